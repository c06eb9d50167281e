import CacheNodeCore
import Foundation
import Management
import Testing

struct NodeReportTests {
    static func status(writable: Bool = true) -> EngineStatus {
        EngineStatus(
            version: "0.1.0", node: "Seattle-1", pid: 42, startedAt: Date(timeIntervalSince1970: 0), uptimeSeconds: 3600,
            listen: "0.0.0.0:80", admin: "127.0.0.1:5000", blockSizeBytes: 1 << 20, objects: 12, requests: 100, hits: 80,
            misses: 15, partials: 5, hitRatio: 0.8, bytesFromCache: 8_000, bytesFromOrigin: 2_000, originErrors: 1,
            connections: 3, peakEgressBitsPerSecond: 2.5e9,
            drives: [
                .init(path: "/srv/a", capacityBytes: 100, usedBytes: 60, objects: 7, writable: true),
                .init(path: "/srv/b", capacityBytes: 100, usedBytes: 30, objects: 5, writable: writable),
            ]
        )
    }

    @Test func aReportCarriesTheEnginesFigures() {
        let report = NodeReport(node: "Seattle-1", version: "x", status: Self.status(), intervalSeconds: 60)
        #expect(report.health == "ok")
        #expect(report.version == "0.1.0")
        #expect(report.uptimeSeconds == 3600)
        #expect(report.bytesFromCache == 8_000 && report.bytesFromOrigin == 2_000)
        #expect(report.hitRatio == 0.8)
        #expect(report.diskUsedBytes == ["/srv/a": 60, "/srv/b": 30])
        #expect(report.peakEgressBitsPerSecond == 2.5e9)
    }

    @Test func aDriveThatCannotStoreMakesTheNodeDegradedAndNoEngineMakesItDown() {
        #expect(NodeReport(node: "n", version: "1", status: Self.status(writable: false), intervalSeconds: 60).health == "degraded")
        let down = NodeReport(node: "n", version: "1", status: nil, intervalSeconds: 60)
        #expect(down.health == "down")
        #expect(down.version == "1")
        #expect(down.diskUsedBytes.isEmpty)
    }

    @Test func theStatusDocumentRoundTripsWithSnakeCaseKeys() throws {
        let data = try EngineStatus.encoder.encode(Self.status())
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""bytes_from_cache" : 8000"#))
        #expect(text.contains(#""started_at" : "1970-01-01T00:00:00Z""#))
        #expect(try EngineStatus.decoder.decode(EngineStatus.self, from: data) == Self.status())
    }
}
