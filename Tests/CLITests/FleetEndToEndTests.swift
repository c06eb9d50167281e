import CacheNodeTestSupport
import Foundation
import Testing

/// A hub service (TLS, its self-signed certificate pinned by fingerprint) and two engines on loopback: both report, one
/// stops and shows offline, the hub restarts and keeps the fleet.
@Suite(.serialized)
struct FleetEndToEndTests {
    @Test func plainHTTPIsForLoopbackOnly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let refused = try CLIRunner.run(["hub", "serve", "--listen", "0.0.0.0:7000", "--plain-http", "--root", root])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("not a loopback address; keys and tokens would cross the network in the clear"))
        let enrol = try CLIRunner.run([
            "node", "enrol", "--hub-url", "http://198.51.100.9:7000", "--hub", "h", "--node", "n", "--key", "k",
            "--root", root,
        ])
        #expect(enrol.status == 1)
        #expect(enrol.stderr.contains("nothing was sent to the hub service"), "\(enrol.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/cachenode/hub-link.json"))
    }

    @Test func twoEnginesReportAndAStoppedOneShowsOffline() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let hubRoot = work.appendingPathComponent("hub").path
        #expect(try CLIRunner.run(["hub", "create", "contoso-west", "--root", hubRoot]).status == 0)

        // One port for both runs of the hub: the nodes were enrolled with its address.
        let port = freeLoopbackPort()
        let url = "https://127.0.0.1:\(port)"
        func startHub() throws -> BackgroundProcess {
            let hub = try BackgroundProcess(
                ["hub", "serve", "--listen", "127.0.0.1:\(port)", "--root", hubRoot],
                outputPath: work.appendingPathComponent("hub-\(UUID().uuidString).log").path
            )
            #expect(
                hub.wait { hub.output.contains("Hub service listening on https://127.0.0.1:\(port)") },
                "\(hub.output)"
            )
            return hub
        }
        var hub = try startHub()
        let fingerprint = try #require(hub.output.firstMatch(of: /fingerprint (SHA256:[0-9A-F:]+)/)).1
        // The same fingerprint as `hub info` prints, and the same after a restart (the certificate is kept).
        #expect(try CLIRunner.run(["hub", "info", "--root", hubRoot]).stdout.contains("Fingerprint: \(fingerprint)"))

        var engines: [BackgroundProcess] = []
        var directories: [TestCacheDirectory] = []
        defer { directories.forEach { $0.remove() } }
        for name in ["Seattle-1", "Tacoma-1"] {
            let created = try CLIRunner.run(["node", "create", name, "--hub", "contoso-west", "--root", hubRoot])
            let key = try #require(created.stdout.firstMatch(of: /enrolment key: (\S+)/)).1
            let directory = TestCacheDirectory(prefix: "fleet-\(name)")
            let config = directory.state + "/cachenode.yaml"
            try FileManager.default.createDirectory(atPath: directory.state, withIntermediateDirectories: true)
            try directory.yaml(listenPort: freeLoopbackPort(), adminPort: freeLoopbackPort()).write(
                toFile: config,
                atomically: true,
                encoding: .utf8
            )
            directories.append(directory)
            let enrolled = try CLIRunner.run([
                "node", "enrol", "--hub-url", url, "--hub-fingerprint", String(fingerprint), "--hub", "contoso-west",
                "--node", name,
                "--key", String(key),
                "--interval", "1", "--root", "/", "--state", directory.state,
            ])
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            engines.append(
                try BackgroundProcess(["serve", "--config", config], outputPath: directory.root + "/engine.log")
            )
        }

        func fleet() -> String { (try? CLIRunner.run(["hub", "nodes", "--root", hubRoot]).stdout) ?? "" }
        func state(of node: String, in table: String) -> String? {
            table.split(separator: "\n").first { $0.hasPrefix(node + " ") }?.split(
                separator: " ",
                omittingEmptySubsequences: true
            ).dropFirst(2).first.map(String.init)
        }
        #expect(
            hub.wait {
                let t = fleet();
                return state(of: "Seattle-1", in: t) == "serving" && state(of: "Tacoma-1", in: t) == "serving"
            },
            "\(fleet())"
        )

        #expect(engines[1].stop() == 0)
        #expect(hub.wait { state(of: "Tacoma-1", in: fleet()) == "offline" }, "\(fleet())")
        #expect(state(of: "Seattle-1", in: fleet()) == "serving")

        // A hub restart keeps the fleet, and the running engine reports to the new process again.
        hub.stop()
        hub = try startHub()
        #expect(hub.output.contains("fingerprint \(fingerprint)"))
        let table = fleet()
        #expect(state(of: "Seattle-1", in: table) != nil && state(of: "Tacoma-1", in: table) == "offline", "\(table)")
        #expect(hub.wait { state(of: "Seattle-1", in: fleet()) == "serving" })
        #expect(engines[0].stop() == 0)
        hub.stop()
    }
}
