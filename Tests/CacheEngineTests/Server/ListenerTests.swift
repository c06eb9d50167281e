import CacheNodeCore
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

struct ListenerTests {
    @Test func portInUseFailsRun() async throws {
        let first = try await EngineHarness.start()
        let directory = TestCacheDirectory()
        let configuration = directory.configuration(listen: "127.0.0.1:\(first.port)")
        let second = try CacheEngine(configuration: configuration, allowlist: OriginAllowlist(patterns: []))
        await #expect(throws: EngineError.self) { try await second.run() }
        await #expect(throws: EngineError.self) { try await second.listenPort() }
        directory.remove()
        try await first.stopAll()
    }
}
