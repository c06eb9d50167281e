import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Testing

/// The HTTPS step in the real binary: trial installs that make a certificate request now and finish later, or use
/// certificate files made by openssl, each checked in the configuration the install leaves under `--root`. The trial
/// starts its engine: the TLS listener is moved to loopback, and `--listen`/`--admin-listen` put the others there.
extension WizardInstallEndToEndTests {
    @Test func theWizardInstallsATrialWithACertificateRequestToFinishLater() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-https-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: root)
        }
        let port = freeLoopbackPort()
        let tmux = try TmuxSession(cols: 100, rows: 30)
        try tmux.startTrialUpToHTTPS(root: root.path, node: "Tls-1")

        // Off by default; a request proposes the trial's unprivileged port, on the address --listen gave, and says what
        // happens next.
        try tmux.waitFor("(*) 1  Off")
        try tmux.type("2")
        try tmux.waitFor("(*) 2  Make a certificate request now, finish later")
        let step = try tmux.waitFor("[127.0.0.1:8443]")
        #expect(step.contains("What happens next:"), "\(step)")
        #expect(step.contains("/var/lib/cachenode/tls/request.csr"), "\(step)")
        #expect(step.contains("then run: cachenode cert install CERT"), "\(step)")
        try tmux.send("Enter", "C-u")
        try tmux.type("127.0.0.1:\(port)")
        try tmux.send("Enter")
        try tmux.type("https://cache.contoso.org")
        try tmux.send("Enter")
        try tmux.waitFor("error: 'https://cache.contoso.org' is not a host name or IP address")
        try tmux.send("C-u")
        try tmux.type("cache.contoso.org")
        try tmux.send("Enter")
        try tmux.waitFor("8 HTTPS       127.0.0.1:\(port); request made at install")
        try tmux.finishReview()

        let done = try tmux.waitFor("Press Enter to exit.")
        #expect(done.contains("The node is installed."), "\(done)")
        #expect(squeezed(done).contains(squeezed("HTTPS: have /var/lib/cachenode/tls/request.csr signed")), "\(done)")
        try tmux.send("Enter")
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        // Long lines wrap anywhere in the pane: compared without white space.
        // Setup made the key and the request the line after exit names, under --root.
        let request = root.path + "/var/lib/cachenode/tls/request.csr"
        #expect(FileManager.default.fileExists(atPath: request))
        #expect(squeezed(pane).contains(squeezed("HTTPS: the certificate request is \(request)")), "\(pane)")
        #expect(squeezed(pane).contains(squeezed("cachenode cert install --root \(root.path) CERT")), "\(pane)")

        // The answers hold the request's files under the state directory, as an administrator's answer file would;
        // the installed configuration has them under --root.
        let expected = NodeConfiguration.HTTPS(
            listen: "127.0.0.1:\(port)",
            certificateFile: "/var/lib/cachenode/tls/certificate.pem",
            keyFile: "/var/lib/cachenode/tls/key.pem",
            names: ["cache.contoso.org"]
        )
        #expect(try httpsAnswers(root, "var/lib/cachenode/answers.yaml") == expected)
        var installed = expected
        installed.certificateFile = root.path + expected.certificateFile
        installed.keyFile = root.path + expected.keyFile
        #expect(try httpsAnswers(root, "var/lib/cachenode/cachenode.yaml") == installed)

        // A re-run starts from the installed choice: the request, its listen address and names, unchanged.
        let rerun = try TmuxSession(cols: 100, rows: 30)
        try rerun.run(
            "'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(WizardEndToEndTests.machine)' --dry-run"
        )
        try rerun.walkARerunToHTTPS()
        let again = try rerun.waitFor("(*) 2  Make a certificate request now, finish later")
        #expect(again.contains("[127.0.0.1:\(port)]"), "\(again)")
        #expect(again.contains("[cache.contoso.org]"), "\(again)")
        try rerun.send("Enter", "Enter", "Enter")
        let review = try rerun.waitFor("8 HTTPS       127.0.0.1:\(port); request made at install")
        // The hub created by the install is an existing one now; HTTPS shows no change.
        #expect(!review.contains("engine.https"), "\(review)")
        try rerun.finishReview()
        let rerunStatus = try rerun.waitForExit()
        let rerunPane = try rerun.capture()
        #expect(rerunStatus == 0, "\(rerunPane)")
    }

    /// "Use these files" with a certificate, key and CA made by openssl below `--root`: a missing file and a
    /// certificate where the key belongs are refused on their fields, the right files are taken.
    @Test func theWizardInstallsATrialWithCertificateFilesItChecked() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-https-\(UUID().uuidString)")
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: root)
        }
        // A trial reads the files the configuration names below its root, as its engine will.
        let authority = try TestCertificateAuthority.make(in: root.path + "/etc/cachenode-tls")
        _ = try authority.issue(names: ["cache.contoso.org"], file: "leaf")
        let (certificate, key, chain) = (
            "/etc/cachenode-tls/leaf.pem", "/etc/cachenode-tls/leaf.key", "/etc/cachenode-tls/ca.pem"
        )
        let port = freeLoopbackPort()
        let tmux = try TmuxSession(cols: 100, rows: 30)
        try tmux.startTrialUpToHTTPS(root: root.path, node: "Tls-2")

        try tmux.waitFor("(*) 1  Off")
        try tmux.type("3")
        try tmux.waitFor("(*) 3  Use these files")
        try tmux.send("Enter")
        try tmux.type("/etc/cachenode-tls/missing.pem")
        try tmux.waitFor("error: /etc/cachenode-tls/missing.pem: no such file")
        try tmux.send("C-u")
        try tmux.type(certificate)
        try tmux.send("Enter")
        try tmux.type(certificate)
        try tmux.waitFor("holds no PEM private key")
        try tmux.send("C-u")
        try tmux.type(key)
        try tmux.send("Enter")
        try tmux.type(chain)
        try tmux.send("Enter", "C-u")
        try tmux.type("127.0.0.1:\(port)")
        try tmux.send("Enter")
        try tmux.type("cache.contoso.org")
        let step = try tmux.waitFor("[cache.contoso.org]")
        #expect(!step.contains("error:"), "\(step)")
        try tmux.send("Enter")
        let review = try tmux.waitFor("8 HTTPS       127.0.0.1:\(port); certificate")
        #expect(squeezed(review).contains(squeezed("key \(key), chain \(chain); names cache.contoso.org")), "\(review)")
        try tmux.finishReview()

        try tmux.waitFor("Press Enter to exit.")
        try tmux.send("Enter")
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        #expect(!pane.contains("cachenode cert install"), "files given need no request:\n\(pane)")

        let expected = NodeConfiguration.HTTPS(
            listen: "127.0.0.1:\(port)",
            certificateFile: certificate,
            keyFile: key,
            chainFile: chain,
            names: ["cache.contoso.org"]
        )
        #expect(try httpsAnswers(root, "var/lib/cachenode/answers.yaml") == expected)
        var installed = expected
        installed.certificateFile = root.path + certificate
        installed.keyFile = root.path + key
        installed.chainFile = root.path + chain
        #expect(try httpsAnswers(root, "var/lib/cachenode/cachenode.yaml") == installed)
    }
}

/// `engine.https` of the answer file or configuration at `path` below `root`, read as `cachenode` reads it.
private func httpsAnswers(_ root: URL, _ path: String) throws -> NodeConfiguration.HTTPS? {
    let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    let decoded = AnswerFile.decode(text)
    let configuration = try #require(decoded.configuration, "\(path): \(decoded.issues)\n\(text)")
    return configuration.engine.https
}

/// `text` without white space: a pane wraps long lines at any character.
private func squeezed(_ text: String) -> String {
    text.filter { !$0.isWhitespace }
}

extension TmuxSession {
    /// A trial setup under `root`, answered up to the HTTPS step with a new hub.
    fileprivate func startTrialUpToHTTPS(root: String, node: String) throws {
        let listeners = TrialListeners()
        try run(
            "'\(CLIRunner.binary)' setup --root '\(root)' --host-root '\(WizardEndToEndTests.machine)' "
                + "--self-test-origin 127.0.0.1:1 \(listeners.flags)"
        )
        try acceptWarnings()
        try answerUpToTheHub(node: node, listenPort: listeners.listen)
        try waitFor("Do you already have a hub?")
        try type("2")
        try send("Enter")
        try type("\(node.lowercased())-hub")
        try send("Enter")
        try waitFor("Serve HTTPS to clients?")
    }

    /// A re-run of an installed trial, every earlier step left as installed, up to the HTTPS step.
    fileprivate func walkARerunToHTTPS() throws {
        try waitFor("[x] Continue anyway despite the warnings")
        try send("Enter")
        try waitFor("fixed: a node keeps its name after the install")
        try send("Enter")
        try waitFor("Create a new switch or use an existing one?")
        try send("Enter", "Enter")
        try waitFor("How the node gets its address.")
        try send("Enter", "Enter")
        try waitFor("> [ ] Continue anyway: I have read the network warnings")
        try send("Space", "Enter")
        try waitFor("Where the state and the cache live")
        try send("Enter", "Enter", "Enter")
        try waitFor("This machine: 16 cores")
        try send("Enter", "Enter", "Enter")
        try waitFor("Do you already have a hub?")
        try send("Enter", "Enter")
        try waitFor("Serve HTTPS to clients?")
    }
}
