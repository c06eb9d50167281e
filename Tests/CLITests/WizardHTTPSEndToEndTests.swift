import CacheNodeTestSupport
import Foundation
import Testing

/// The HTTPS step in the real binary: a trial install that makes a certificate request now and finishes later.
extension WizardInstallEndToEndTests {
    @Test func theWizardInstallsATrialWithACertificateRequestToFinishLater() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-https-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: root)
        }
        let tmux = try TmuxSession(cols: 100, rows: 30)
        try tmux.run(
            "'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(WizardEndToEndTests.machine)' "
                + "--self-test-origin 127.0.0.1:1"
        )
        try tmux.acceptWarnings()
        try tmux.answerUpToTheHub(node: "Tls-1")
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("tls-hub")
        try tmux.send("Enter")

        // Off by default; a request proposes the trial's unprivileged port and says what happens next.
        try tmux.waitFor("(*) 1  Off")
        try tmux.type("2")
        try tmux.waitFor("(*) 2  Make a certificate request now, finish later")
        let step = try tmux.waitFor("[0.0.0.0:8443]")
        #expect(step.contains("What happens next:"), "\(step)")
        #expect(step.contains("/var/lib/cachenode/tls/request.csr"), "\(step)")
        #expect(step.contains("then run: cachenode cert install CERT"), "\(step)")
        try tmux.send("Enter", "Enter")
        try tmux.type("https://cache.contoso.org")
        try tmux.send("Enter")
        try tmux.waitFor("error: 'https://cache.contoso.org' is not a host name or IP address")
        try tmux.send("C-u")
        try tmux.type("cache.contoso.org")
        try tmux.send("Enter")
        try tmux.waitFor("8 HTTPS       0.0.0.0:8443; request made at install")
        try tmux.finishReview()

        let done = try tmux.waitFor("Press Enter to exit.")
        #expect(done.contains("The node is installed."), "\(done)")
        let reminder = done.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(reminder.contains("HTTPS: have /var/lib/cachenode/tls/request.csr signed by your"), "\(reminder)")
        try tmux.send("Enter")
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        let printed = pane.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(
            printed.contains(
                "HTTPS: have \(root.path)/var/lib/cachenode/tls/request.csr signed by your organisation's CA, then "
                    + "run `cachenode cert install --root \(root.path) CERT`"
            ),
            "\(pane)"
        )

        // The installed configuration holds the request's files under the state directory, as an answer file would.
        let answers = try String(
            contentsOf: root.appendingPathComponent("var/lib/cachenode/answers.yaml"),
            encoding: .utf8
        )
        #expect(
            answers.hasSuffix(
                """
                  https:
                    listen: 0.0.0.0:8443
                    certificate_file: /var/lib/cachenode/tls/certificate.pem
                    key_file: /var/lib/cachenode/tls/key.pem
                    names: [cache.contoso.org]

                """
            ),
            "\(answers)"
        )
        let installed = try String(
            contentsOf: root.appendingPathComponent("var/lib/cachenode/cachenode.yaml"),
            encoding: .utf8
        )
        #expect(installed.contains("    listen: 0.0.0.0:8443\n"), "\(installed)")
        #expect(installed.contains("/var/lib/cachenode/tls/key.pem\n"), "\(installed)")
        #expect(installed.contains("    names: [cache.contoso.org]\n"), "\(installed)")
    }
}
