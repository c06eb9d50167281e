import CacheNodeTestSupport
import Foundation
import Testing

/// Hub selection links the node, as a new user would try it: the wizard in tmux creates a hub on this machine, and a
/// second run moves the node to a hub service over TLS with a one-time key. Both end with the node in `hub nodes`
/// with a report within seconds, and no restart asked of anyone.
extension WizardInstallEndToEndTests {
    @Test func theWizardCreatesAHubHereThenJoinsAHubServiceWithAOneTimeKey() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-hub-\(UUID().uuidString)")
        let root = work.appendingPathComponent("node").path
        let hubRoot = work.appendingPathComponent("hub").path
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root])
            try? FileManager.default.removeItem(at: work)
        }
        func row(_ node: String, root: String) -> String {
            let table = (try? CLIRunner.run(["hub", "nodes", "--root", root]).stdout) ?? ""
            return table.split(separator: "\n").first { $0.hasPrefix(node + " ") }.map(String.init) ?? table
        }
        let setup =
            "'\(CLIRunner.binary)' setup --root '\(root)' --host-root '\(WizardEndToEndTests.machine)' --self-test-origin 127.0.0.1:1"
        let listeners = TrialListeners()

        // First run: "No, create a new hub" on this machine, its engine on loopback ports of its own.
        let tmux = try TmuxSession()
        try tmux.run(setup + " " + listeners.flags)
        try tmux.acceptWarnings()
        try tmux.answerUpToTheHub(node: "Oslo-1", listenPort: listeners.listen)
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("hub-oslo")
        try tmux.send("Enter")
        try tmux.httpsOff()
        try tmux.waitFor("7 Hub         create hub-oslo on this machine")
        try tmux.finishReview()
        // Long progress lines wrap on the screen: compared as words.
        let done = try tmux.waitFor("Press Enter to exit.").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(
            done.contains("link to the hub: node Oslo-1 registered in hub hub-oslo on this machine; first report"),
            "\(done)"
        )
        #expect(done.contains("first report accepted at"), "\(done)")
        try tmux.send("Enter")
        let firstExit = try tmux.waitForExit()
        #expect(firstExit == 0, "\(done)")
        let local = row("Oslo-1", root: root)
        #expect(local.contains("hub-oslo") && local.contains("s ago") && !local.contains("never"), "\(local)")
        let status = try CLIRunner.run(["status", "--root", root])
        #expect(status.stdout.contains("reporter   running"), "\(status.stdout)")

        // A hub service on another machine (here: TLS on loopback), the node created there with a one-time key.
        #expect(try CLIRunner.run(["hub", "create", "remote-west", "--root", hubRoot]).status == 0)
        let port = freeLoopbackPort()
        let service = try BackgroundProcess(
            ["hub", "serve", "--listen", "127.0.0.1:\(port)", "--root", hubRoot],
            outputPath: work.appendingPathComponent("hub.log").path
        )
        defer { service.stop() }
        #expect(service.wait { service.output.contains("fingerprint SHA256:") }, "\(service.output)")
        let fingerprint = try #require(service.output.firstMatch(of: /fingerprint (SHA256:[0-9A-F:]+)/)).1
        let created = try CLIRunner.run(["node", "create", "Oslo-1", "--hub", "remote-west", "--root", hubRoot])
        let key = String(try #require(created.stdout.firstMatch(of: /enrolment key: (\S+)/)).1)

        // Second run: the installed answers (the engine's addresses among them), the hub step moved to the service.
        try tmux.run(setup)
        try tmux.waitFor("[x] Continue anyway despite the warnings")
        try tmux.send("Enter")
        try tmux.waitFor("fixed: a node keeps its name after the install")
        try tmux.send("Enter")
        try tmux.waitFor("Create a new switch or use an existing one?")
        try tmux.send("Enter", "Enter")
        try tmux.waitFor("How the node gets its address.")
        try tmux.send("Enter", "Enter")
        try tmux.acceptNetworkWarnings(listenPort: listeners.listen)
        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("This machine: 16 cores")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("3")
        try tmux.send("Enter")
        try tmux.waitFor("Hub service address:")
        try tmux.type("https://127.0.0.1:\(port)")
        try tmux.send("Enter")
        // A wrong fingerprint first: the check at once names both.
        let wrong = "SHA256:" + Array(repeating: "00", count: 32).joined(separator: ":")
        try tmux.type(wrong)
        try tmux.send("Enter", "Enter")
        try tmux.type(key)
        try tmux.send("Enter")
        try tmux.type("remote-west")
        try tmux.send("Enter")
        let refused = try tmux.waitFor("The hub service check failed")
        #expect(refused.contains("presented a certificate with fingerprint"), "\(refused)")
        #expect(!refused.contains(key), "the key shows as asterisks")
        try tmux.send("C-u")
        try tmux.type(String(fingerprint))
        try tmux.send("Enter", "Enter", "Enter", "Enter")
        try tmux.httpsOff()
        try tmux.waitFor("7 Hub         existing remote-west at https://127.0.0.1:\(port)")
        try tmux.finishReview()
        let moved = try tmux.waitFor("Press Enter to exit.").split(whereSeparator: \.isWhitespace).joined(
            separator: " "
        )
        #expect(
            moved.contains("link to the hub: node Oslo-1 enrolled in hub remote-west at https://127.0.0.1:\(port)"),
            "\(moved)"
        )
        #expect(moved.contains("first report accepted at"), "\(moved)")
        try tmux.send("Enter")
        let secondExit = try tmux.waitForExit(2)
        #expect(secondExit == 0, "\(moved)")

        let remote = row("Oslo-1", root: hubRoot)
        #expect(remote.contains("remote-west") && remote.contains("s ago") && !remote.contains("never"), "\(remote)")
        // It left the hub on this machine; and the key is nowhere on disk.
        #expect(!row("Oslo-1", root: root).hasPrefix("Oslo-1 "))
        for (path, text) in HubLinkEndToEndTests.files(below: root) {
            #expect(!text.contains(key), "the one-time key is in \(path)")
        }
    }
}
