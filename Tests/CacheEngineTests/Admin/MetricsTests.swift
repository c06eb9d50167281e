import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// `/metrics` as Prometheus users expect it, checked by Prometheus's own tools, and the Grafana dashboard that ships
/// with the engine checked against what the engine exports.
@Suite
struct MetricsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let promtool = "/usr/bin/promtool"
    static let prometheus = "/usr/bin/prometheus"
    static var hasPromtool: Bool { FileManager.default.isExecutableFile(atPath: promtool) }
    static var hasPrometheus: Bool { FileManager.default.isExecutableFile(atPath: prometheus) }

    /// An engine that served one miss and two hits of a 100,000-byte object.
    static func withBusyEngine(_ body: (EngineHarness, String) async throws -> Void) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/m.bin", length: 100_000, seed: 71)
            for _ in 0..<3 { expectBytes(try await harness.get("/m.bin").body, bytes) }
            await harness.engine.settle()
            try await body(harness, try await scrape(harness))
        }
    }

    static func scrape(_ harness: EngineHarness) async throws -> String {
        let response = try await TestHTTPClient.get(port: harness.adminPort, "/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Samples as (name, labels, value).
    static func samples(_ text: String) -> [(name: String, labels: String, value: Double)] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[parts.count - 1]) else { return nil }
            let series = parts.dropLast().joined(separator: " ")
            if let brace = series.firstIndex(of: "{") {
                return (String(series[..<brace]), String(series[brace...]), value)
            }
            return (series, "", value)
        }
    }

    @Test func everyMetricHasThePrefixAUnitHelpAndCountersEndInTotal() async throws {
        try await Self.withBusyEngine { harness, text in
            let lines = text.split(separator: "\n")
            var types: [String: String] = [:]
            var helps: Set<String> = []
            for line in lines {
                let words = line.split(separator: " ", maxSplits: 3)
                if words.count >= 4, words[1] == "TYPE" { types[String(words[2])] = String(words[3]) }
                if words.count >= 4, words[1] == "HELP" { helps.insert(String(words[2])) }
            }
            let samples = Self.samples(text)
            #expect(!samples.isEmpty)
            for sample in samples {
                #expect(sample.name.hasPrefix("cachenode_"), "\(sample.name)")
                #expect(helps.contains(sample.name), "no HELP for \(sample.name)")
                #expect(types[sample.name] != nil, "no TYPE for \(sample.name)")
            }
            for (name, type) in types {
                #expect((type == "counter") == name.hasSuffix("_total"), "\(name) is a \(type)")
            }
            for expected in [
                "cachenode_requests_total", "cachenode_responses_total", "cachenode_served_bytes_total",
                "cachenode_origin_received_bytes_total", "cachenode_origin_errors_total",
                "cachenode_client_connections",
                "cachenode_cache_objects", "cachenode_drive_capacity_bytes", "cachenode_drive_used_bytes",
                "cachenode_drive_writable", "cachenode_build_info", "cachenode_start_time_seconds",
                "cachenode_health_state", "cachenode_drive_filesystem_free_bytes",
            ] {
                #expect(types[expected] != nil, "\(expected) is missing")
            }
            // The figures agree with what happened and with /status.
            func value(_ name: String, _ labels: String = "") -> Double? {
                samples.first { $0.name == name && $0.labels == labels }?.value
            }
            #expect(value("cachenode_requests_total", #"{cache="miss"}"#) == 1)
            #expect(value("cachenode_requests_total", #"{cache="hit"}"#) == 2)
            #expect(value("cachenode_responses_total", #"{code="2xx"}"#) == 3)
            // The two hits from the cache, and the miss from its fills (or from disk, for blocks stored before it read them).
            let fromCache = value("cachenode_served_bytes_total", #"{source="cache"}"#) ?? 0
            let fromFills = value("cachenode_served_bytes_total", #"{source="origin"}"#) ?? 0
            #expect(fromCache + fromFills == 300_000)
            #expect(fromCache >= 200_000)
            #expect(value("cachenode_origin_received_bytes_total") == 100_000)
            #expect(value("cachenode_cache_objects") == 1)
            #expect(value("cachenode_build_info", "{version=\"\(EngineInfo.version)\"}") == 1)
            let status = await harness.engine.status()
            #expect(
                value("cachenode_drive_used_bytes", "{drive=\"\(harness.directory.drive)\"}")
                    == Double(status.drives[0].usedBytes)
            )
        }
    }

    @Test(.enabled(if: hasPromtool, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"))
    func promtoolFindsNoProblem() async throws {
        try await Self.withBusyEngine { harness, text in
            let result = try await TestHTTPClient.blocking {
                try Self.run(Self.promtool, ["check", "metrics"], input: text)
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(result.output)")
        }
    }

    /// The shipped alerting rules parse, their own tests pass, and they name only metrics the engine exports.
    @Test(.enabled(if: hasPromtool, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"))
    func theAlertingRulesPassPromtoolAndNameExportedMetrics() async throws {
        let folder = Self.repository.appendingPathComponent("Resources/monitoring").path
        let check = try Self.run(Self.promtool, ["check", "rules", folder + "/alerts.yml"], input: "")
        #expect(check.status == 0 && check.output.contains("SUCCESS: 6 rules found"), "\(check.output)")
        let tests = try Self.run(Self.promtool, ["test", "rules", folder + "/alerts.test.yml"], input: "")
        #expect(tests.status == 0 && tests.output.contains("SUCCESS"), "\(tests.output)")
        try await Self.withBusyEngine { harness, text in
            let exported = Set(Self.samples(text).map(\.name))
            let rules = try String(contentsOfFile: folder + "/alerts.yml", encoding: .utf8)
            let named = Set(rules.matches(of: /cachenode_[a-z_]+/).map { String($0.output) })
            #expect(!named.isEmpty && named.isSubset(of: exported), "not exported: \(named.subtracting(exported))")
        }
    }

    /// A real Prometheus scrapes the engine; the hit ratio it computes is the engine's own, and every expression of
    /// the shipped Grafana dashboard parses and names only metrics the engine exports.
    @Test(.enabled(if: hasPrometheus, "prometheus is not installed (Debian's prometheus package; .ci/run installs it)"))
    func aRealPrometheusScrapesTheEngineAndEveryDashboardQueryWorks() async throws {
        try await Self.withBusyEngine { harness, text in
            let exported = Set(Self.samples(text).map(\.name))
            let server = try await PrometheusServer.start(scraping: harness.adminPort)
            defer { server.stop() }
            // Wait for a scrape that saw the traffic.
            var ratio: Double?
            let giveUp = ContinuousClock.now + .seconds(60)
            while ratio == nil && ContinuousClock.now < giveUp {
                ratio = try await server.scalar(
                    #"sum(cachenode_served_bytes_total{source="cache"}) / sum(cachenode_served_bytes_total)"#
                )
                if ratio == nil { try await Task.sleep(for: .milliseconds(500)) }
            }
            let engineRatio = await harness.engine.status().hitRatio
            #expect(
                ratio.map { abs($0 - engineRatio) < 1e-9 } == true,
                "Prometheus: \(String(describing: ratio)), engine: \(engineRatio)"
            )

            let dashboard = try Self.dashboardExpressions()
            #expect(dashboard.count >= 8)
            for expression in dashboard {
                let names = Set(expression.matches(of: /cachenode_[a-z_]+/).map { String($0.output) })
                #expect(!names.isEmpty, "\(expression)")
                #expect(names.isSubset(of: exported), "\(expression) names \(names.subtracting(exported).sorted())")
                // Grafana's variables as Grafana would fill them in.
                let query = expression.replacingOccurrences(of: "$__range", with: "1h")
                    .replacingOccurrences(of: "$instance", with: ".*")
                let answer = try await server.query(query)
                #expect(
                    answer.status == 200 && answer.body.contains(#""status":"success""#),
                    "\(query): \(answer.body)"
                )
            }
        }
    }

    /// Every `expr` in the shipped dashboard.
    static func dashboardExpressions() throws -> [String] {
        let data = try Data(
            contentsOf: repository.appendingPathComponent("Resources/monitoring/grafana-dashboard.json")
        )
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        let panels = json["panels"] as? [[String: Any]] ?? []
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    static func run(_ tool: String, _ arguments: [String], input: String) throws -> (status: Int32, output: String) {
        var watchdog: DispatchWorkItem?
        let result = try ChildProcess.run([tool] + arguments, stdin: input) { pid in
            let item = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: item)
            watchdog = item
        }
        watchdog?.cancel()
        return (result.status, result.stdout + result.stderr)
    }
}

/// A Prometheus server on a free loopback port, scraping one target every second, its data in a temporary folder.
final class PrometheusServer: Sendable {
    let port: Int
    let folder: String
    private let process: ChildProcess

    private init(port: Int, folder: String, process: ChildProcess) {
        self.port = port
        self.folder = folder
        self.process = process
    }

    static func start(scraping target: Int) async throws -> PrometheusServer {
        let folder = NSTemporaryDirectory() + "cachenode-prometheus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        let configuration = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: cachenode
                static_configs:
                  - targets: ["127.0.0.1:\(target)"]

            """
        try configuration.write(toFile: folder + "/prometheus.yml", atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        let process = try ChildProcess(
            [
                MetricsTests.prometheus, "--config.file=\(folder)/prometheus.yml",
                "--storage.tsdb.path=\(folder)/data", "--web.listen-address=127.0.0.1:\(port)",
            ],
            outputPath: folder + "/prometheus.log"
        )
        let server = PrometheusServer(port: port, folder: folder, process: process)
        let giveUp = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < giveUp && process.isRunning {
            if let ready = try? await TestHTTPClient.get(port: port, "/-/ready"), ready.status == 200 { return server }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = (try? String(contentsOfFile: folder + "/prometheus.log", encoding: .utf8)) ?? ""
        server.stop()
        throw PrometheusFailure(reason: "prometheus did not start on 127.0.0.1:\(port): \(log.suffix(2000))")
    }

    /// The answer to an instant query: the status and the JSON body.
    func query(_ expression: String) async throws -> (status: Int, body: String) {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? expression
        let response = try await TestHTTPClient.get(port: port, "/api/v1/query?query=\(encoded)")
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    /// The single value of a query, or `nil` while it has none.
    func scalar(_ expression: String) async throws -> Double? {
        let answer = try await query(expression)
        let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        let result = (json?["data"] as? [String: Any])?["result"] as? [[String: Any]]
        guard let value = result?.first?["value"] as? [Any], value.count == 2, let text = value[1] as? String else {
            return nil
        }
        return Double(text)
    }

    func stop() {
        process.signal(SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

struct PrometheusFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
