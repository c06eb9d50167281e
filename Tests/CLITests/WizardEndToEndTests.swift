import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real binary in tmux on the server-bridge fixture machine, walked through every step as a person would.
@Suite(.serialized)
struct WizardEndToEndTests {
    static let machine = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/server-bridge").path
    static let expected = CLIRunner.fixtures

    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func setup(_ extra: String) -> String {
        "'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(Self.machine)' \(extra)"
    }

    /// Existing switch, static address, a new hub; a bad name, a gateway outside the subnet, a disk too large,
    /// and a change from Review on the way.
    @Test func existingSwitchStaticAddressAndANewHub() throws {
        let answers = root.appendingPathComponent("answers-a.yaml").path
        let tmux = try TmuxSession()
        try tmux.run(setup("--dry-run --write-answers '\(answers)'"))
        try tmux.waitFor("Welcome and hardware check")
        try tmux.waitFor("Continue anyway despite the warnings")
        try tmux.send("Enter")
        try tmux.waitFor("error: tick it with Space")
        try tmux.send("Space", "Enter")

        try tmux.waitFor("Cache node name")
        try tmux.type("Seattle 1")
        try tmux.waitFor("error: 'Seattle 1' contains a space")
        try tmux.send("BSpace", "BSpace")
        try tmux.type("-1")
        try tmux.send("Enter")

        try tmux.existingSwitch(number: "1")

        try tmux.waitFor("How the node gets its address.")
        try tmux.send("Enter")
        try tmux.type("10.0.0.50/24")
        try tmux.send("Enter")
        try tmux.type("192.168.1.1")
        try tmux.send("Enter")
        try tmux.type("10.0.0.2")
        try tmux.send("Enter")
        try tmux.waitFor("blank for none; http://[user@]host:port")
        try tmux.send("Enter")
        try tmux.waitFor("error: 192.168.1.1 is not in 10.0.0.0/24")
        try tmux.send("C-u")
        try tmux.type("10.0.0.1")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.acceptNetworkWarnings()

        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "C-u")
        try tmux.type("999999")
        try tmux.send("Enter")
        try tmux.waitFor("error: 999999 GB is more than the")
        try tmux.send("C-u")
        try tmux.type("60")
        try tmux.send("Enter")

        try tmux.resources(profile: "1", memoryGB: "4", cores: "4")

        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("microsoft-west")
        try tmux.waitFor("contains \"microsoft\"")
        try tmux.send("C-u")
        try tmux.type("contoso-west")
        try tmux.send("Enter")

        // Review: back to the name, change it, and Review shows it.
        try tmux.waitFor("Every answer. Enter on a row")
        try tmux.type("2")
        try tmux.waitFor("Node name:")
        try tmux.send("BSpace")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.waitFor("2 Node name   Seattle-2")
        try tmux.finishReview()

        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        #expect(pane.contains("Answers written to \(answers)"))
        try expectFile(answers, equals: "wizard-existing-static-new-hub.yaml")
        #expect(
            !FileManager.default.fileExists(atPath: root.appendingPathComponent("var").path),
            "a dry run changed the root"
        )

        // The written file replays.
        let replay = try CLIRunner.run([
            "setup", "--answers", answers, "--root", root.path, "--host-root", Self.machine, "--dry-run",
        ])
        #expect(replay.status == 0, "\(replay.stderr)")
    }

    /// Create a switch, dynamic address, an existing hub; and a resize to too small and back mid-flow.
    @Test func newSwitchDynamicAddressAndAnExistingHub() throws {
        let hub = try CLIRunner.run(["hub", "create", "contoso-west", "--root", root.path])
        #expect(hub.status == 0, "\(hub.stderr)")
        let answers = root.appendingPathComponent("answers-b.yaml").path
        let tmux = try TmuxSession()
        try tmux.run(setup("--dry-run --write-answers '\(answers)'"))
        try tmux.acceptWarnings()
        try tmux.type("Branch-2")
        try tmux.send("Enter")

        try tmux.waitFor("Create a new switch or use an existing one?")
        try tmux.send("Down", "Enter")
        try tmux.waitFor("New switch name:")
        try tmux.waitFor("[br1]")
        try tmux.send("Enter")
        try tmux.type("2")
        try tmux.waitFor("warning: creating br1 restarts the network on eno2;")
        try tmux.send("Enter", "Space", "Enter")

        try tmux.dynamicAddress(proxy: "http://proxy.example.lan:3128")

        try tmux.waitFor("Where the state and the cache live")
        try tmux.resize(cols: 70, rows: 20)
        try tmux.waitFor("Enlarge it to at least 80x24")
        try tmux.resize(cols: 100, rows: 30)
        try tmux.storage(driveGB: "60")

        try tmux.resources(profile: "1", memoryGB: "4", cores: "4")

        try tmux.waitFor("Do you already have a hub?")
        try tmux.waitFor("contoso-west")
        try tmux.send("Enter")
        try tmux.type("1")
        try tmux.send("Enter")
        try tmux.finishReview()

        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        try expectFile(answers, equals: "wizard-new-switch-dhcp-existing-hub.yaml")
    }

    /// With --hub-url the hub step starts from that hub service, checks it and lists its hubs.
    @Test func hubsComeFromTheHubServiceWithHubURL() throws {
        let serviceRoot = root.appendingPathComponent("hub-service")
        let created = try CLIRunner.run(["hub", "create", "remote-west", "--root", serviceRoot.path])
        #expect(created.status == 0, "\(created.stderr)")
        let port = freeLoopbackPort()
        let info = try CLIRunner.run(["hub", "info", "--root", serviceRoot.path])
        let fingerprint = try #require(info.stdout.firstMatch(of: /Fingerprint: (SHA256:[0-9A-F:]+)/)).1
        let service = try ChildProcess(
            [CLIRunner.binary, "hub", "serve", "--listen", "127.0.0.1:\(port)", "--root", serviceRoot.path]
        )
        defer {
            service.signal(SIGTERM)
            service.waitUntilExit()
        }
        try Self.waitUntilListening(port)
        let address = "127.0.0.1:\(port)"
        let token = try String(
            contentsOf: serviceRoot.appendingPathComponent("var/lib/cachenode/hub-admin-token"),
            encoding: .utf8
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)

        let tmux = try TmuxSession()
        try tmux.run(
            setup("--dry-run --hub-url https://\(address) --hub-fingerprint \(fingerprint) --hub-token \(token)")
        )
        try tmux.acceptWarnings()
        try tmux.type("Remote-1")
        try tmux.send("Enter", "Enter", "Enter", "Down", "Enter", "Enter")
        try tmux.acceptNetworkWarnings()
        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("This machine: 16 cores")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("Do you already have a hub?")
        // The flags fill in the hub service; Enter on the token checks it at once and lists its hubs.
        try tmux.waitFor("(*) 3  A hub service on another machine")
        try tmux.waitFor("[https://\(address)]")
        try tmux.send("Enter", "Enter", "Enter", "Enter", "Enter")
        try tmux.waitFor("(*) 1  remote-west")
        try tmux.send("Enter")
        try tmux.waitFor("7 Hub         existing remote-west at https://\(address)")
        try tmux.send("q")
        try tmux.waitFor("Quit setup?")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
    }

    @Test func aBlockedMachineStopsOnTheWelcomeScreen() throws {
        let tooSmall = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/too-small").path
        let tmux = try TmuxSession()
        try tmux.run("'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(tooSmall)' --dry-run")
        try tmux.waitFor("This machine cannot run a cache node:")
        try tmux.send("Enter")
        try tmux.waitFor("This machine cannot run a cache node. Press q to quit.")
        try tmux.send("q")
        try tmux.waitFor("Quit setup?")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
    }

    @Test func quittingAsksAndRestoresTheTerminal() throws {
        let tmux = try TmuxSession()
        try tmux.run(setup("--dry-run"))
        try tmux.waitFor("Welcome and hardware check")
        try tmux.send("q")
        try tmux.waitFor("Quit setup?")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
        #expect(try tmux.capture().contains("setup was cancelled; nothing was changed"))
        try expectTerminalRestored(tmux)
    }

    @Test func aTooSmallTerminalAsksToEnlarge() throws {
        let tmux = try TmuxSession(cols: 60, rows: 20)
        try tmux.run(setup("--dry-run"))
        try tmux.waitFor("Enlarge it to at least 80x24")
        try tmux.send("C-c")
        try tmux.waitFor("Quit setup? y quits.")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
        try expectTerminalRestored(tmux)
    }

    /// SIGTERM from outside, and SIGSEGV as a crash would raise it: the terminal is restored either way.
    @Test(arguments: [SIGTERM, SIGSEGV])
    func aFatalSignalRestoresTheTerminal(_ signal: Int32) throws {
        let tmux = try TmuxSession(environment: ["NO_COLOR": "1"])
        try tmux.run("ulimit -c 0; " + setup("--dry-run"))
        try tmux.waitFor("Welcome and hardware check")
        let pid = try #require(try tmux.foregroundPID())
        kill(pid, signal)
        #expect(try tmux.waitForExit() == 128 + signal)
        try expectTerminalRestored(tmux)
    }

    /// SIGTERM, SIGHUP (the session dropped) or SIGINT mid-way: the answers so far are kept (0600, this user's) where
    /// the next setup finds them, and it offers to start from them.
    @Test(arguments: [SIGTERM, SIGHUP, SIGINT])
    func aSignalKeepsTheAnswersForTheNextSetup(_ signal: Int32) throws {
        let draft = root.appendingPathComponent("var/lib/cachenode/setup-draft.yaml").path
        let errors = root.appendingPathComponent("stderr.txt").path
        let tmux = try TmuxSession()
        // Through `sh -c`: an interactive shell abandons the rest of a command line whose command died of SIGINT.
        try tmux.type("sh -c \"\(setup("2>'\(errors)'")); echo EXIT=\\$?\"")
        try tmux.send("Enter")
        try tmux.acceptWarnings()
        try tmux.type("Keep-1")
        try tmux.send("Enter")
        try tmux.existingSwitch(number: "2")
        try tmux.waitFor("How the node gets its address.")
        let pid = try #require(try tmux.descendantPID(named: "cachenode"))
        kill(pid, signal)
        #expect(try tmux.waitForExit() == 128 + signal)
        try expectTerminalRestored(tmux)
        let message = try String(contentsOfFile: errors, encoding: .utf8)
        // The shell may add its own "Terminated" or "Hangup" after the program's line.
        #expect(
            message.hasPrefix(
                "setup stopped. Your answers so far are saved in \(draft): the next "
                    + "`cachenode setup --root \(root.path)` offers to start from them "
                    + "(`--answers` takes the file once every answer is given).\n"
            ),
            "\(message)"
        )
        let attributes = try FileManager.default.attributesOfItem(atPath: draft)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == getuid())
        let kept = try String(contentsOfFile: draft, encoding: .utf8)
        #expect(kept.contains("node:\n  name: Keep-1\n"), "\(kept)")
        #expect(kept.contains("    mode: existing\n    name: docker0\n"), "\(kept)")

        // The next setup asks first, and starts from them.
        try tmux.run(setup(""))
        try tmux.waitFor("Answers from an earlier run")
        try tmux.waitFor("Start from these answers")
        try tmux.send("Enter")
        try tmux.waitFor(" Space tick")
        try tmux.acceptWarnings()
        try tmux.waitFor("[Keep-1]")
        try tmux.send("Enter")
        try tmux.waitFor("(*) 2  docker0")
        try tmux.send("C-c")
        try tmux.waitFor("Your answers are kept in")
        try tmux.send("y")
        #expect(try tmux.waitForExit(3) == 1)
    }

    /// Quit with confirmation on Review: the answers are kept without the proxy password, and replay with --answers
    /// (the password given in the environment, as the file says).
    @Test func quittingKeepsAnswersThatReplayWithoutThePassword() throws {
        let canary = "canary-\(UUID().uuidString.prefix(8))"
        let draft = root.appendingPathComponent("var/lib/cachenode/setup-draft.yaml").path
        let errors = root.appendingPathComponent("stderr.txt").path
        let tmux = try TmuxSession()
        try tmux.run(setup("2>'\(errors)'"))
        try tmux.acceptWarnings()
        try tmux.type("Quit-1")
        try tmux.send("Enter")
        try tmux.existingSwitch(number: "1")
        try tmux.dynamicAddress(proxy: "http://squid-user@proxy.example.lan:3128")
        try tmux.waitFor("> Proxy password:")
        try tmux.type(canary)
        try tmux.waitFor("[\(String(repeating: "*", count: canary.count))]")
        try tmux.send("Enter")
        try tmux.acceptNetworkWarnings()
        try tmux.storage(driveGB: "60")
        try tmux.resources(profile: "1", memoryGB: "4", cores: "4")
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("quit-hub")
        try tmux.send("Enter")
        try tmux.waitFor("http://squid-user:****@proxy.example.lan:3128")
        try tmux.send("q")
        try tmux.waitFor("Your answers are kept in")
        #expect(!(try tmux.capture()).contains(canary))
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
        #expect(
            try String(contentsOfFile: errors, encoding: .utf8)
                == "setup was cancelled; nothing was changed\nYour answers are saved in \(draft): the next "
                + "`cachenode setup --root \(root.path)` offers to start from them, and "
                + "`cachenode setup --root \(root.path) --answers \(draft)` installs them.\n"
        )
        let kept = try String(contentsOfFile: draft, encoding: .utf8)
        #expect(!kept.contains(canary))
        #expect(kept.contains("upstream_proxy: \"http://squid-user@proxy.example.lan:3128\""), "\(kept)")
        let configuration = root.appendingPathComponent("var/lib/cachenode/cachenode.yaml").path
        #expect(!FileManager.default.fileExists(atPath: configuration), "quitting installed something")

        let replay = ["setup", "--answers", draft, "--root", root.path, "--host-root", Self.machine, "--dry-run"]
        let withoutPassword = try CLIRunner.run(replay)
        #expect(withoutPassword.status == 2)
        #expect(withoutPassword.stderr.contains("engine.upstream_proxy names user squid-user but no password"))
        let replayed = try CLIRunner.run(replay, environment: ["CACHENODE_PROXY_PASSWORD": canary])
        #expect(replayed.status == 0, "\(replayed.stdout)\(replayed.stderr)")
        #expect(!(replayed.stdout + replayed.stderr).contains(canary))
    }

    /// A terminal that cannot address the cursor gets one line naming the ways out, exit 2, and no screen.
    @Test(arguments: [
        (
            "TERM=dumb",
            "setup: this terminal (TERM=dumb) cannot move the cursor, which the wizard needs; use a terminal that can "
                + "(TERM=vt100 is enough), or install without one with --answers FILE\n"
        ),
        (
            "TERM=cachenode-no-such-terminal",
            "setup: this machine has no terminfo entry for TERM=cachenode-no-such-terminal, so the wizard cannot draw "
                + "its screens; use a terminal that can (TERM=vt100 is enough), or install without one with "
                + "--answers FILE\n"
        ),
        (
            "-u TERM",
            "setup: TERM is not set, so the wizard cannot draw its screens; use a terminal that can (TERM=vt100 is "
                + "enough), or install without one with --answers FILE\n"
        ),
    ])
    func aTerminalThatCannotMoveTheCursorGetsOneLineAndExitTwo(_ term: String, _ expected: String) throws {
        let errors = root.appendingPathComponent("stderr.txt").path
        let tmux = try TmuxSession()
        try tmux.run("env \(term) " + setup("2>'\(errors)'"))
        #expect(try tmux.waitForExit() == 2)
        #expect(try String(contentsOfFile: errors, encoding: .utf8) == expected)
        #expect(!(try tmux.capture()).contains("CacheNode setup -"), "a screen was drawn")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("var").path))
    }

    /// At 80x24 the common terminal types draw every screen, line drawing included: through the terminal's
    /// alternate character set (ACS) or, where ncurses maps it so, the Unicode box characters.
    @Test(arguments: ["vt100", "linux", "screen", "xterm"])
    func commonTerminalsDrawTheWizardAt80x24(_ term: String) throws {
        let tmux = try TmuxSession(cols: 80, rows: 24)
        try tmux.run("TERM=\(term) " + setup("--dry-run"))
        try tmux.waitFor("REQUIREMENT                      MEASURED")
        // The root's long path is shortened in the middle, never cut, and stays on its row.
        try tmux.waitFor("…/cachenode ")
        try tmux.acceptWarnings()
        try tmux.send("?")
        try tmux.waitFor("Help: Cache node name")
        let drawn = try tmux.capture(escapes: true)
        let unicode = drawn.contains("┌─ Help: Cache node name ─")
        let alternateCharacters = drawn.contains("\u{0E}lq\u{0F} Help: Cache node name \u{0E}qqq")
        #expect(unicode || alternateCharacters, "no box around the help:\n\(drawn)")
        try tmux.send("Escape")
        try tmux.waitFor(" Enter next  Tab field")
        try tmux.send("C-c")
        try tmux.waitFor("Quit setup?")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
    }

    /// A terminal type without line-drawing characters, outside a UTF-8 locale (a serial console): ASCII boxes, and
    /// `~` for the ellipsis.
    @Test func aTerminalWithoutLineDrawingGetsASCIIBoxes() throws {
        let tmux = try TmuxSession(cols: 80, rows: 24, environment: ["LANG": "C"])
        try tmux.run("TERM=sun LC_ALL=C " + setup("--dry-run"))
        try tmux.waitFor("~/cachenode ")
        try tmux.waitFor("Continue anyway despite the warnings")
        try tmux.send("?")
        try tmux.waitFor("+- Help: Welcome and hardware check ----")
        try tmux.waitFor("| The probe measured this machine; each row is judged against both |")
        try tmux.send("Escape", "q")
        try tmux.waitFor("Quit setup?")
        try tmux.send("y")
        #expect(try tmux.waitForExit() == 1)
    }

    @Test func withoutATerminalAndWithoutAnswersItExitsTwo() throws {
        let result = try CLIRunner.run(["setup", "--root", root.path], stdin: "")
        #expect(result.status == 2)
        #expect(result.stdout == "")
        #expect(result.stderr == "setup: no terminal for the wizard; install without one with --answers FILE\n")
    }

    /// Waits until something accepts connections on the loopback port (a guard against hangs, not a speed check).
    static func waitUntilListening(_ port: Int) throws {
        let giveUp = ContinuousClock.now + TmuxSession.hangGuard
        while ContinuousClock.now < giveUp {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(socket)
            if connected { return }
            usleep(50_000)
        }
        throw TmuxSession.Failure(description: "nothing listens on port \(port)")
    }

    /// The shell is back with echo on: the wizard's screen and modes are gone.
    private func expectTerminalRestored(_ tmux: TmuxSession) throws {
        try tmux.run("stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e icanon -e isig")
        #expect(try tmux.waitForExit(2) == 0)
        let lines = try tmux.capture().split(separator: "\n").map(String.init)
        #expect(lines.contains("echo") && lines.contains("icanon") && lines.contains("isig"), "\(lines)")
    }

    private func expectFile(_ path: String, equals fixture: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let written = try String(contentsOfFile: path, encoding: .utf8)
        let expectedURL = Self.expected.appendingPathComponent(fixture)
        if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
            try Data(written.utf8).write(to: expectedURL)
            return
        }
        let expected = try String(contentsOf: expectedURL, encoding: .utf8)
        #expect(
            written == expected,
            "\(path) differs from Fixtures/\(fixture):\n\(written)",
            sourceLocation: sourceLocation
        )
    }
}

/// The wizard all the way: apply with the engine and a real origin on loopback (reached through an upstream proxy),
/// then Done shows `DOCacheHost`.
@Suite(.serialized)
struct WizardInstallEndToEndTests {
    @Test func theWizardInstallsAndStartsTheEngine() async throws {
        let origin = try await TestOrigin.start()
        defer { Task { await origin.stop() } }
        let gif = Array("GIF89a".utf8) + [UInt8](repeating: 7, count: 4096)
        origin.add("/mscomtest/wuidt.gif", object: .init(bytes: gif, etag: "\"wuidt\"", contentType: "image/gif"))
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: root)
        }

        let tmux = try TmuxSession()
        try tmux.run(
            "'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(WizardEndToEndTests.machine)' "
                + "--self-test-origin \(origin.authority)"
        )
        try tmux.acceptWarnings()
        try tmux.type("Lab-1")
        try tmux.send("Enter")
        try tmux.existingSwitch(number: "1")
        // The network's "proxy" is the test origin itself, which answers absolute-form requests as a forward proxy.
        try tmux.dynamicAddress(proxy: "http://\(origin.authority)")
        try tmux.storage(driveGB: "60")
        try tmux.resources(profile: "1", memoryGB: "4", cores: "4")
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("lab-hub")
        try tmux.send("Enter")
        try tmux.finishReview()

        try tmux.waitFor("Point clients at it: DOCacheHost = ")
        try tmux.send("Enter")
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        #expect(origin.requests("/mscomtest/wuidt.gif") >= 1, "the self-test went through the engine to the origin")
        #expect(
            origin.absoluteTargets.contains("http://\(origin.authority)/mscomtest/wuidt.gif"),
            "the engine did not use the proxy"
        )
        #expect(origin.connects == 0)
        let running = try CLIRunner.run(["status", "--root", root.path])
        #expect(running.status == 0, "\(running.stdout)\(running.stderr)")
        #expect(running.stdout.hasPrefix("Node Lab-1 "))
        #expect(running.stdout.contains("Origin fetches: through the upstream proxy http://\(origin.authority)"))
        // The status page it names answers, with the node's name.
        let page = try #require(
            running.stdout.firstMatch(of: /Status page: +http:\/\/127\.0\.0\.1:(\d+)\//),
            "\(running.stdout)"
        )
        let html = try await TestHTTPClient.get(port: Int(page.output.1)!, "/")
        #expect(html.status == 200)
        #expect(String(decoding: html.body, as: UTF8.self).contains("<title>CacheNode Lab-1</title>"))
        let hubs = try CLIRunner.run(["hub", "list", "--root", root.path])
        #expect(hubs.stdout.contains("lab-hub"))
        let kept = try String(
            contentsOf: root.appendingPathComponent("var/lib/cachenode/answers.yaml"),
            encoding: .utf8
        )
        #expect(kept.contains("name: Lab-1"))
    }
}

extension WizardInstallEndToEndTests {
    /// The README's first command as written, on this machine as the probe sees it, without internet and without
    /// --self-test-origin: the self-test cannot reach the CDN, the trial install says so, stays installed, exits 0.
    @Test func theReadmeFirstCommandInstallsATrialOffline() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let demo = work.appendingPathComponent("demo").path
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", demo])
            try? FileManager.default.removeItem(at: work)
        }
        let tmux = try TmuxSession(cols: 80, rows: 24)
        try tmux.run("cd '\(work.path)' && '\(CLIRunner.binary)' setup --root ./demo")
        try tmux.waitFor("Welcome and hardware check")
        // Warnings, if this machine has any, need the tick; without any, Space does nothing.
        try tmux.send("Space", "Enter")
        try tmux.waitFor("Cache node name")
        try tmux.type("Demo-1")
        try tmux.send("Enter")
        try tmux.waitFor("Create a new switch or use an existing one?")
        try tmux.type("2")
        try tmux.send("Enter", "Enter", "Enter", "Space", "Enter")
        try tmux.waitFor("How the node gets its address.")
        try tmux.type("2")
        try tmux.send("Enter", "Enter")
        try tmux.acceptNetworkWarnings()
        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("This machine:")
        try tmux.send("Enter", "Enter", "Enter")
        let belowProfile = "> [ ] Continue anyway below the profile"
        if try tmux.waitForAny(["Do you already have a hub?", belowProfile]) == belowProfile {
            try tmux.send("Space", "Enter")
        }
        try tmux.waitFor("Do you already have a hub?")
        try tmux.send("Enter")
        try tmux.type("demo-hub")
        try tmux.send("Enter")
        try tmux.finishReview()
        try tmux.waitFor("Point clients at it: DOCacheHost = ")
        #expect(try tmux.capture().contains("warning: self-test:"), "the trial does not say the CDN was out of reach")
        try tmux.send("Enter")
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        let running = try CLIRunner.run(["status", "--root", demo])
        #expect(running.status == 0, "\(running.stdout)\(running.stderr)")
        #expect(running.stdout.hasPrefix("Node Demo-1 "))
    }

    /// An install that fails keeps the answers (the failure does not lose them); once the cause is gone, the next
    /// setup starts from them and installs, and the install removes them.
    @Test func aFailedInstallKeepsTheAnswersAndASuccessfulOneRemovesThem() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-fail-\(UUID().uuidString)")
        let drive = root.appendingPathComponent("srv/cache")
        try FileManager.default.createDirectory(at: drive, withIntermediateDirectories: true)
        try "not a cache".write(to: drive.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: root)
        }
        let draft = root.appendingPathComponent("var/lib/cachenode/setup-draft.yaml").path
        let errors = root.appendingPathComponent("stderr.txt").path

        let tmux = try TmuxSession()
        try tmux.run(
            "'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(WizardEndToEndTests.machine)' "
                + "2>'\(errors)'"
        )
        try tmux.acceptWarnings()
        try tmux.answerUpToTheHub(node: "Fail-1")
        try tmux.waitFor("Do you already have a hub?")
        try tmux.type("2")
        try tmux.send("Enter")
        try tmux.type("fail-hub")
        try tmux.send("Enter")
        try tmux.finishReview()
        try tmux.waitFor("The install failed.")
        try tmux.send("Enter")
        #expect(try tmux.waitForExit() == 2)
        let message = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(message.contains("/srv/cache is not empty and holds no CacheNode cache (notes.txt)"), "\(message)")
        #expect(
            message.hasSuffix(
                "Your answers are saved in \(draft): the next `cachenode setup --root \(root.path)` offers to "
                    + "start from them, and `cachenode setup --root \(root.path) --answers \(draft)` installs them.\n"
            ),
            "\(message)"
        )
        let mode = try FileManager.default.attributesOfItem(atPath: draft)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // The cause gone, the next setup starts from the answers: Enter through each step, as they were.
        try FileManager.default.removeItem(at: drive.appendingPathComponent("notes.txt"))
        try tmux.run("'\(CLIRunner.binary)' setup --root '\(root.path)' --host-root '\(WizardEndToEndTests.machine)'")
        try tmux.waitFor("Start from these answers")
        try tmux.send("Enter")
        try tmux.waitFor(" Space tick")
        try tmux.acceptWarnings()
        try tmux.waitFor("[Fail-1]")
        try tmux.send("Enter", "Enter", "Enter", "Enter", "Enter")
        try tmux.acceptNetworkWarnings()
        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("This machine: 16 cores")
        try tmux.send("Enter", "Enter", "Enter")
        try tmux.waitFor("[fail-hub]")
        try tmux.send("Enter", "Enter")
        try tmux.finishReview()
        // Offline, the trial's self-test cannot reach the CDN: the install says so and goes on.
        try tmux.waitFor("The node is installed.")
        try tmux.send("Enter")
        let status = try tmux.waitForExit(2)
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
        #expect(pane.contains("Node Fail-1 is installed"))
        #expect(!FileManager.default.fileExists(atPath: draft), "a successful install leaves no draft")
    }
}

/// The wizard's steps as an operator walks them without mistakes, for the walks that test something else.
extension TmuxSession {
    /// Ticks "continue anyway" on the welcome screen of the fixture machine (it has warnings) and goes on.
    func acceptWarnings() throws {
        try waitFor("Continue anyway despite the warnings")
        try send("Space", "Enter")
        try waitFor("Cache node name")
    }

    func existingSwitch(number: String) throws {
        try waitFor("Create a new switch or use an existing one?")
        try send("Enter")
        try type(number)
        try send("Enter")
    }

    /// DHCP, with an upstream proxy when given.
    func dynamicAddress(proxy: String? = nil) throws {
        try waitFor("How the node gets its address.")
        try send("Down")
        try waitFor("(*) 2  Dynamic (DHCP)")
        try send("Enter")
        if let proxy { try type(proxy) }
        try send("Enter")
        // A proxy that names a user asks for its password first; the checks come after it.
        if proxy?.contains("@") != true { try acceptNetworkWarnings() }
    }

    /// A trial listens on port 8080: the address step's checks warn that Windows clients use port 80, and go on
    /// only once that is ticked.
    func acceptNetworkWarnings() throws {
        try waitFor("[warn] Listen port: 8080: Windows clients reach a cache host on port 80 only")
        try waitFor("> [ ] Continue anyway: I have read the network warnings")
        try send("Space", "Enter")
    }

    /// The node's name, the first existing switch, a dynamic address, a 60 GB drive and the branch profile (4 GB, 4
    /// cores): the steps up to the hub, as most wizard tests answer them.
    func answerUpToTheHub(node: String) throws {
        try type(node)
        try send("Enter")
        try existingSwitch(number: "1")
        try dynamicAddress()
        try storage(driveGB: "60")
        try resources(profile: "1", memoryGB: "4", cores: "4")
    }

    /// The default state directory and one drive of `driveGB`.
    func storage(driveGB: String) throws {
        try waitFor("Where the state and the cache live")
        try send("Enter", "Enter", "C-u")
        try type(driveGB)
        try send("Enter")
    }

    func resources(profile: String, memoryGB: String, cores: String) throws {
        try waitFor("This machine: 16 cores")
        try type(profile)
        try send("Enter", "C-u")
        try type(memoryGB)
        try send("Enter", "C-u")
        try type(cores)
        try send("Enter")
    }

    /// Review's last row: finish (dry run) or install.
    func finishReview() throws {
        try waitFor("Every answer. Enter on a row")
        try send("Down", "Down", "Down", "Down", "Down", "Down", "Enter")
    }
}
