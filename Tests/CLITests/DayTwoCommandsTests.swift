import Foundation
import Testing

/// A node installed under a temporary root, written by hand, with no engine running.
struct StoppedNode {
    let root: URL
    var state: URL { root.appendingPathComponent("var/lib/cachenode") }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("daytwo-\(UUID().uuidString)")
        let state = root.appendingPathComponent("var/lib/cachenode")
        try FileManager.default.createDirectory(
            at: state.appendingPathComponent("logs"),
            withIntermediateDirectories: true
        )
        var config = try String(
            contentsOf: CLIRunner.repository.appendingPathComponent("Resources/answers/trial.yaml"),
            encoding: .utf8
        )
        // An admin port nothing listens on, and a proxy with a password that must never leave the machine.
        config = config.replacingOccurrences(of: "admin: 127.0.0.1:5000", with: "admin: 127.0.0.1:9")
        config = config.replacingOccurrences(
            of: "upstream_proxy: null",
            with: "upstream_proxy: http://proxy-user:pr0xy-s3cret@proxy.example.org:3128"
        )
        config = config.replacingOccurrences(of: "path: /srv/cache", with: "path: \(root.path)/srv/cache")
        config = config.replacingOccurrences(of: "state: /var/lib/cachenode", with: "state: \(state.path)")
        try config.write(to: state.appendingPathComponent("cachenode.yaml"), atomically: true, encoding: .utf8)
        try
            #"{"url":"http://127.0.0.1:9","hub":"trial-hub","node":"Trial-1","token":"tok-n0de-s3cret","interval_s":60}"#
            .write(to: state.appendingPathComponent("hub-link.json"), atomically: true, encoding: .utf8)
        try (1...50).map { "engine line \($0)" }.joined(separator: "\n").appending("\n")
            .write(to: state.appendingPathComponent("logs/engine.log"), atomically: true, encoding: .utf8)
        try "127.0.0.1 GET /mscomtest/wuidt.gif - 200 969710 MISS 12ms origin=200\n"
            .write(to: state.appendingPathComponent("logs/access.log"), atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

@Suite(.serialized)
struct DayTwoCommandsTests {
    @Test func statusReportsAStoppedEngineAndExitsOne() throws {
        let node = try StoppedNode()
        defer { node.remove() }
        let result = try CLIRunner.run(["status", "--root", node.root.path])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "Node Trial-1 (installed under \(node.root.path))")
        #expect(
            lines.contains {
                $0.hasPrefix("engine ") && $0.contains(" stopped ")
                    && $0.contains("127.0.0.1:8080 (clients), 127.0.0.1:9 (admin)")
            }
        )
        #expect(
            lines.contains {
                $0.hasPrefix("hub link ") && $0.contains("linked")
                    && $0.contains("hub trial-hub, node Trial-1, at http://127.0.0.1:9")
            }
        )
        // A link without a running engine reports nothing: the reporter is not said to run.
        #expect(
            lines.contains { $0.hasPrefix("reporter ") && $0.contains("stopped") && $0.contains("last report never") }
        )
        #expect(result.stdout.contains("The engine is not running: cache figures are unavailable."))
        #expect(
            lines.contains("Origin fetches: through the upstream proxy http://proxy-user:****@proxy.example.org:3128")
        )
        #expect(!result.stdout.contains("pr0xy-s3cret"))
    }

    @Test func statusJSONSaysTheEngineIsDown() throws {
        let node = try StoppedNode()
        defer { node.remove() }
        let result = try CLIRunner.run(["status", "--root", node.root.path, "--json"])
        #expect(result.status == 1)
        let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let components = document?["components"] as? [[String: Any]]
        #expect(components?.first?["name"] as? String == "engine")
        #expect(components?.first?["state"] as? String == "stopped")
        #expect(document?["engine"] == nil)
        #expect(document?["upstream_proxy"] as? String == "http://proxy-user:****@proxy.example.org:3128")
        #expect(document?["status_page"] as? String == "http://127.0.0.1:9/")
        #expect(!result.stdout.contains("pr0xy-s3cret"))
    }

    @Test func statusWithoutAnInstallSaysSo() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        let result = try CLIRunner.run(["status", "--root", root.path])
        #expect(result.status == 1)
        #expect(result.stderr == "no CacheNode install found under \(root.path) (state /var/lib/cachenode)\n")
    }

    @Test func diagnosticsWritesOneRedactedBundleAndPrintsItsPath() throws {
        let node = try StoppedNode()
        defer { node.remove() }
        let output = node.root.appendingPathComponent("out")
        // A hub's TLS key in the same state directory never goes into the bundle.
        let info = try CLIRunner.run(["hub", "info", "--root", node.root.path])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("Fingerprint: SHA256:"))
        let result = try CLIRunner.run([
            "diagnostics", "--root", node.root.path, "--output", output.path, "--log-lines", "10",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = (path as NSString).lastPathComponent
        #expect(path.hasPrefix(output.path + "/support_bundle_"))
        #expect(name.wholeMatch(of: /support_bundle_\d{8}T\d{6}Z\.tar\.gz/) != nil)

        let extract = node.root.appendingPathComponent("x")
        try FileManager.default.createDirectory(at: extract, withIntermediateDirectories: true)
        #expect(try CLIRunner.execute("tar", ["-xzf", path, "-C", extract.path]).status == 0)
        let bundle = extract.appendingPathComponent(String(name.dropLast(".tar.gz".count)))
        let files = Set(FileManager.default.enumerator(atPath: bundle.path)?.compactMap { $0 as? String } ?? [])
        for expected in [
            "summary.txt", "configuration/cachenode.yaml", "configuration/hub-link.json", "status.txt", "status.json",
            "host-check.txt", "system.txt", "logs/engine.log", "logs/access.log",
        ] {
            #expect(files.contains(expected), "missing \(expected) in \(files.sorted())")
        }
        var everything = ""
        for file in files {
            if let text = try? String(contentsOf: bundle.appendingPathComponent(file), encoding: .utf8) {
                everything += text
            }
        }
        #expect(!everything.contains("pr0xy-s3cret"))
        #expect(!everything.contains("PRIVATE KEY"))
        #expect(!everything.contains("tok-n0de-s3cret"))
        let config = try String(
            contentsOf: bundle.appendingPathComponent("configuration/cachenode.yaml"),
            encoding: .utf8
        )
        #expect(config.contains("upstream_proxy: http://proxy-user:<redacted>@proxy.example.org:3128"))
        let engineLog = try String(contentsOf: bundle.appendingPathComponent("logs/engine.log"), encoding: .utf8)
        #expect(engineLog.hasPrefix("engine line 41\n") && engineLog.hasSuffix("engine line 50\n"))
        let status = try String(contentsOf: bundle.appendingPathComponent("status.txt"), encoding: .utf8)
        #expect(status.contains("The engine is not running"))
    }
}
