import CacheNodeCore
import Foundation
import Management
import Testing

struct NodeReportTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static let originFailing = HealthReason(
        kind: "origin_failing",
        severity: .failing,
        detail: "no origin fetch succeeded in the last 5 minutes: 4 of 4 failed (dns 4)",
        action: "check the node's DNS servers",
        since: t0
    )

    static func status(writable: Bool = true, health: NodeHealth? = nil, issues: [NodeIssue] = []) -> EngineStatus {
        EngineStatus(
            version: "0.1.0",
            node: "Seattle-1",
            pid: 42,
            startedAt: Date(timeIntervalSince1970: 0),
            uptimeSeconds: 3600,
            listen: "0.0.0.0:80",
            admin: "127.0.0.1:5000",
            blockSizeBytes: 1 << 20,
            objects: 12,
            requests: 100,
            hits: 80,
            misses: 15,
            partials: 5,
            hitRatio: 0.8,
            bytesFromCache: 8_000,
            bytesFromOrigin: 2_000,
            originErrors: 1,
            connections: 3,
            peakEgressBitsPerSecond: 2.5e9,
            drives: [
                .init(path: "/srv/a", capacityBytes: 100, usedBytes: 60, objects: 7, writable: true),
                .init(path: "/srv/b", capacityBytes: 100, usedBytes: 30, objects: 5, writable: writable),
            ],
            health: health ?? NodeHealth(state: .serving, reasons: [], since: t0),
            issues: issues
        )
    }

    @Test func aReportCarriesTheEnginesFiguresHealthAndIssues() {
        let health = NodeHealth(state: .failing, reasons: [Self.originFailing], since: Self.t0)
        let issue = NodeIssue(kind: "origin_failing", severity: .failing, detail: "d", action: "a", start: Self.t0)
        let report = NodeReport(
            node: "Seattle-1",
            version: "x",
            status: Self.status(health: health, issues: [issue]),
            intervalSeconds: 60
        )
        #expect(report.health == health)
        #expect(report.issues == [issue])
        #expect(report.version == "0.1.0")
        #expect(report.uptimeSeconds == 3600)
        #expect(report.bytesFromCache == 8_000 && report.bytesFromOrigin == 2_000)
        #expect(report.hitRatio == 0.8)
        #expect(report.diskUsedBytes == ["/srv/a": 60, "/srv/b": 30])
        #expect(report.peakEgressBitsPerSecond == 2.5e9)
    }

    @Test func anEngineThatDoesNotAnswerIsFailingWithThatReason() {
        let now = Self.t0.addingTimeInterval(90)
        let down = NodeReport(node: "n", version: "1", status: nil, intervalSeconds: 60, now: now)
        #expect(down.health.state == .failing)
        #expect(down.health.since == now)
        #expect(down.health.reasons.map(\.detail) == ["the engine does not answer"])
        #expect(down.health.reasons.map(\.kind) == ["engine_not_answering"])
        #expect(down.version == "1")
        #expect(down.diskUsedBytes.isEmpty)
        #expect(down.issues.isEmpty)
    }

    /// The open issues always travel; of the ended ones the newest, up to the limit, in the node's order.
    @Test func aReportCarriesTheOpenIssuesAndTheNewestEndedOnes() {
        let ended = (0..<30).map { index in
            NodeIssue(
                kind: "origin_errors",
                severity: .degraded,
                detail: "\(index)",
                action: "a",
                start: Self.t0.addingTimeInterval(Double(index) * 600),
                end: Self.t0.addingTimeInterval(Double(index) * 600 + 60)
            )
        }
        let open = NodeIssue(
            kind: "drive_nearly_full",
            severity: .degraded,
            detail: "open",
            action: "a",
            start: Self.t0
        )
        let issues = [open] + ended
        let sent = NodeReport(node: "n", version: "1", status: Self.status(issues: issues), intervalSeconds: 60).issues
        #expect(sent.count == NodeReport.issueLimit)
        #expect(sent.first == open)
        #expect(sent.dropFirst().map(\.detail) == (11..<30).map { "\($0)" })
    }

    @Test func theStatusDocumentRoundTripsWithSnakeCaseKeys() throws {
        let data = try EngineStatus.encoder.encode(Self.status())
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""bytes_from_cache" : 8000"#))
        #expect(text.contains(#""started_at" : "1970-01-01T00:00:00Z""#))
        #expect(try EngineStatus.decoder.decode(EngineStatus.self, from: data) == Self.status())
    }

    /// A new report says its state, reasons and issues, and still the word older hubs read.
    @Test func aReportRoundTripsAndKeepsTheWordOlderHubsRead() throws {
        let issue = NodeIssue(
            kind: "origin_failing",
            severity: .failing,
            detail: "d",
            action: "a",
            start: Self.t0,
            end: Self.t0.addingTimeInterval(60)
        )
        let report = NodeReport(
            node: "n",
            version: "1",
            status: Self.status(
                health: NodeHealth(state: .failing, reasons: [Self.originFailing], since: Self.t0),
                issues: [issue]
            ),
            intervalSeconds: 60
        )
        let data = try HubJSON.encoder.encode(report)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["health"] as? String == "down")
        #expect(json["state"] as? String == "failing")
        #expect(json["state_since"] as? String == "2027-01-15T08:00:00Z")
        #expect((json["reasons"] as? [[String: Any]])?.first?["kind"] as? String == "origin_failing")
        #expect((json["issues"] as? [[String: Any]])?.first?["end"] as? String == "2027-01-15T08:01:00Z")
        #expect(try HubJSON.decoder.decode(NodeReport.self, from: data) == report)
    }

    @Test(arguments: [
        ("ok", HealthState.serving, [String]()),
        ("degraded", .degraded, ["drive_not_writable"]),
        ("down", .failing, ["engine_not_answering"]),
    ])
    func aReportOfAnOlderNodeReadsAsTheStateItNames(_ word: String, _ state: HealthState, _ kinds: [String]) throws {
        let old = """
            {"node":"A","version":"0.1.0","uptime_s":30,"health":"\(word)","bytes_from_cache":900,"bytes_from_origin":100,\
            "hit_ratio":0.9,"disk_used_bytes":{"/srv/cache":123},"peak_egress_bps":1000000000,"interval_s":60}
            """
        let report = try HubJSON.decoder.decode(NodeReport.self, from: Data(old.utf8))
        #expect(report.health.state == state)
        #expect(report.health.reasons.map(\.kind) == kinds)
        #expect(report.issues.isEmpty)
        #expect(report.bytesFromCache == 900)
    }
}
