import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

/// The status page's hit ratio: none before any traffic, a percentage once bytes were served.
@Suite
struct StatusPageHitRatioTests {
    @Test func beforeAnyTrafficThePageSaysSoInsteadOfZeroPercent() async throws {
        try await EngineHarness.with { harness in
            let idle = String(decoding: try await TestHTTPClient.get(port: harness.adminPort, "/").body, as: UTF8.self)
            #expect(StatusPageTests.element("hit-ratio", in: idle)?.text == "no traffic yet")
            #expect(!idle.contains("0.0 %"))

            let bytes = harness.origin.add("/filestreamingservice/files/first.bin", length: 50_000, seed: 7)
            // The second request is answered from disk only once the first one's fill is stored.
            for _ in 0..<2 {
                expectBytes(try await harness.get("/filestreamingservice/files/first.bin").body, bytes)
                await harness.engine.settle()
            }
            let busy = String(decoding: try await TestHTTPClient.get(port: harness.adminPort, "/").body, as: UTF8.self)
            let status = await harness.engine.status()
            #expect(
                StatusPageTests.element("hit-ratio", in: busy)?.text == String(format: "%.1f %%", status.hitRatio * 100)
            )
            #expect(status.hitRatio > 0)
        }
    }
}
