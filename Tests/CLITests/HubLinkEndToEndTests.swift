import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A link takes effect at once: a running `cachenode serve` starts, moves and stops reporting on a reload (SIGHUP),
/// and setup joins a hub service with nothing secret written where it does not belong.
@Suite(.serialized)
struct HubLinkEndToEndTests {
    let work: URL

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-link-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    /// `hub serve --plain-http` on loopback over the registry under `root`, with the hub `hub` made first.
    func startHub(root: String, hub: String) throws -> (BackgroundProcess, url: String, token: String) {
        #expect(try CLIRunner.run(["hub", "create", hub, "--root", root]).status == 0)
        let port = freeLoopbackPort()
        let service = try BackgroundProcess(
            ["hub", "serve", "--plain-http", "--listen", "127.0.0.1:\(port)", "--root", root],
            outputPath: work.appendingPathComponent("hub-\(port).log").path
        )
        #expect(service.wait { service.output.contains("Hub service listening") }, "\(service.output)")
        let token = try String(contentsOfFile: root + "/var/lib/cachenode/hub-admin-token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return (service, "http://127.0.0.1:\(port)", token)
    }

    /// The state of `node` in `hub nodes` under `root`, and whether it has a report.
    static func fleetRow(_ node: String, root: String) -> String? {
        let table = (try? CLIRunner.run(["hub", "nodes", "--root", root]).stdout) ?? ""
        return table.split(separator: "\n").first { $0.hasPrefix(node + " ") }.map(String.init)
    }

    @Test func enrolAndReloadStartAndStopReportingWithoutARestart() throws {
        let hubRoot = work.appendingPathComponent("hub").path
        let (hub, url, _) = try startHub(root: hubRoot, hub: "contoso-west")
        defer { hub.stop() }

        let directory = TestCacheDirectory(prefix: "reload")
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.state, withIntermediateDirectories: true)
        let config = directory.state + "/cachenode.yaml"
        try directory.yaml(listenPort: freeLoopbackPort(), adminPort: freeLoopbackPort()).write(
            toFile: config,
            atomically: true,
            encoding: .utf8
        )
        let engine = try BackgroundProcess(["serve", "--config", config], outputPath: directory.root + "/engine.log")
        defer { engine.stop() }
        // What setup records for a --root engine: its pid, which `node enrol` signals.
        try "\(engine.process.pid)\n".write(
            toFile: directory.state + "/cachenode.pid",
            atomically: true,
            encoding: .utf8
        )
        let install = ["--root", "/", "--state", directory.state]
        #expect(engine.wait { (try? CLIRunner.run(["status"] + install).status) == 0 }, "\(engine.output)")

        // Not linked: status says so, and nothing claims a reporter runs.
        let before = try CLIRunner.run(["status", "--json"] + install)
        #expect(before.stdout.contains(#""reporter" : "off""#), "\(before.stdout)")

        let created = try CLIRunner.run(["node", "create", "Test-1", "--hub", "contoso-west", "--root", hubRoot])
        let key = try #require(created.stdout.firstMatch(of: /enrolment key: (\S+)/)).1
        // The default interval (60 s): only the report a reload sends at once can arrive within the test.
        let enrolled = try CLIRunner.run(
            ["node", "enrol", "--hub-url", url, "--hub", "contoso-west", "--node", "Test-1", "--key", String(key)]
                + install
        )
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        #expect(
            enrolled.stdout.contains(
                "The running engine took the link (SIGHUP to the engine, pid \(engine.process.pid)): first report accepted at"
            ),
            "\(enrolled.stdout)"
        )
        #expect(!enrolled.stdout.contains(String(key)))
        let row = try #require(Self.fleetRow("Test-1", root: hubRoot))
        #expect(row.contains("0s ago") || row.contains("1s ago") || row.contains("2s ago"), "\(row)")
        #expect(engine.process.isRunning, "the engine was reloaded, not restarted")

        let linked = try CLIRunner.run(["status"] + install)
        let reporter = try #require(linked.stdout.split(separator: "\n").first { $0.hasPrefix("reporter ") })
        #expect(
            reporter.contains("running") && reporter.contains("last report 0s ago")
                || reporter.contains("last report 1s ago"),
            "\(linked.stdout)"
        )
        #expect(linked.stdout.contains("hub link   linked"), "\(linked.stdout)")
        #expect(linked.stdout.hasPrefix("Node Test-1"))
        #expect(linked.stdout.contains("\nHealth: "), "the engine's health is printed at the top: \(linked.stdout)")

        // The hub goes away: the reporter says it fails, with the error; the engine serves on.
        hub.stop()
        kill(engine.process.pid, SIGHUP)
        #expect(
            engine.wait { (try? CLIRunner.run(["status"] + install).stdout.contains("reporter   failing")) == true },
            "\(engine.output)"
        )
        let failing = try CLIRunner.run(["status", "--json"] + install)
        #expect(failing.stdout.contains(#""last_error" : "the hub service cannot be reached"#), "\(failing.stdout)")

        // The link removed and a reload: the reporter stops at once.
        try FileManager.default.removeItem(atPath: directory.state + "/hub-link.json")
        kill(engine.process.pid, SIGHUP)
        #expect(engine.wait { (try? CLIRunner.run(["status"] + install).stdout.contains("reporter   off")) == true })
        #expect(engine.output.contains("no hub link; not reporting"), "\(engine.output)")
        #expect(engine.stop() == 0)
    }

    /// `setup --answers` joins a hub service with its admin token from the environment: the node is created there,
    /// enrolled and reports at once. The token (a recognisable canary) is in no file setup or the engine wrote, nor
    /// in the diagnostics bundle; a key file others can read is refused.
    @Test func setupJoinsAHubServiceAndWritesNoSecret() throws {
        let hubRoot = work.appendingPathComponent("hub").path
        let (hub, url, token) = try startHub(root: hubRoot, hub: "remote-west")
        defer { hub.stop() }
        let root = work.appendingPathComponent("node").path
        let machine = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/server-bridge").path
        var answers = try String(
            contentsOf: CLIRunner.repository.appendingPathComponent("Resources/answers/trial.yaml"),
            encoding: .utf8
        )
        answers = answers.replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(freeLoopbackPort())")
            .replacingOccurrences(of: "127.0.0.1:5000", with: "127.0.0.1:\(freeLoopbackPort())")
            .replacingOccurrences(
                of: "hub:\n  mode: create\n  name: trial-hub\n",
                with: "hub:\n  mode: existing\n  name: remote-west\n  url: \(url)\n"
            )
        let file = work.appendingPathComponent("answers.yaml").path
        try answers.write(toFile: file, atomically: true, encoding: .utf8)
        let setup = [
            "setup", "--root", root, "--answers", file, "--host-root", machine, "--self-test-origin", "127.0.0.1:1",
        ]

        // No key or token: refused before anything changes.
        let missing = try CLIRunner.run(setup)
        #expect(
            missing.status == 2
                && missing.stderr.contains("hub.url: joining hub remote-west at \(url) needs a one-time key"),
            "\(missing.stderr)"
        )

        // A key file others can read is refused, naming its key path.
        let keyFile = work.appendingPathComponent("hub.key").path
        try "not-a-real-key\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o644)
        let open = answers.replacingOccurrences(
            of: "  url: \(url)\n",
            with: "  url: \(url)\n  enrolment_key_file: \(keyFile)\n"
        )
        try open.write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try CLIRunner.run(setup)
        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(
            refused.stderr.contains("hub.enrolment_key_file: \(keyFile) is mode 644, readable by others"),
            "\(refused.stderr)"
        )
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/cachenode/cachenode.yaml"))

        try answers.write(toFile: file, atomically: true, encoding: .utf8)
        let installed = try CLIRunner.run(setup, environment: ["CACHENODE_HUB_TOKEN": token])
        defer { _ = try? CLIRunner.run(["uninstall", "--root", root]) }
        #expect(installed.status == 0, "\(installed.stdout)\(installed.stderr)")
        #expect(
            installed.stdout.contains(
                "[ ok ] link to the hub: node Trial-1 enrolled in hub remote-west at \(url); first report accepted at"
            ),
            "\(installed.stdout)"
        )
        let row = try #require(Self.fleetRow("Trial-1", root: hubRoot), "the node is in the hub")
        #expect(!row.contains("never"), "\(row)")

        let bundle = try CLIRunner.run([
            "diagnostics", "--root", root, "--output", work.appendingPathComponent("bundle").path,
        ])
        #expect(bundle.status == 0, "\(bundle.stderr)")
        let unpacked = work.appendingPathComponent("unpacked").path
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        #expect(
            try CLIRunner.execute(
                "tar",
                ["-xzf", bundle.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "-C", unpacked]
            ).status == 0
        )

        let link = try String(contentsOfFile: root + "/var/lib/cachenode/hub-link.json", encoding: .utf8)
        let nodeToken = try #require(link.firstMatch(of: /"token":"([^"]+)"/)).1
        for directory in [root, unpacked] {
            for (path, text) in Self.files(below: directory) {
                #expect(!text.contains(token), "the admin token is in \(path)")
                if !path.hasSuffix("/hub-link.json") {
                    #expect(!text.contains(nodeToken), "the node's token is in \(path)")
                }
            }
        }
        #expect(!installed.stdout.contains(token) && !installed.stderr.contains(token))
    }

    /// Every regular file below `directory` with its text.
    static func files(below directory: String) -> [(String, String)] {
        var result: [(String, String)] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            result.append((path, String(decoding: data, as: UTF8.self)))
        }
        return result
    }
}
