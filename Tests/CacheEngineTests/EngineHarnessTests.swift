import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

/// `EngineHarness.with` leaves nothing behind, whether its body returns or throws.
struct EngineHarnessTests {
    struct Thrown: Error {}

    /// Whether something accepts connections on `port`.
    static func accepts(_ port: Int) async -> Bool {
        guard let fd = try? await TestHTTPClient.blocking({ try TestHTTPClient.connect(port: port) }) else {
            return false
        }
        close(fd)
        return true
    }

    /// The engine's `run()` returned, the origin no longer accepts connections, the folder is gone.
    static func expectCleanedUp(_ harness: EngineHarness) async throws {
        try await harness.task.value
        #expect(await !Self.accepts(harness.origin.port))
        #expect(!FileManager.default.fileExists(atPath: harness.directory.root))
    }

    @Test func aThrowingBodyStillStopsTheEngineAndTheOriginAndRemovesTheFolder() async throws {
        var seen: EngineHarness?
        do {
            try await EngineHarness.with { harness in
                seen = harness
                throw Thrown()
            }
            Issue.record("the body's error must reach the caller")
        } catch is Thrown {}
        try await Self.expectCleanedUp(try #require(seen))
    }

    @Test func aReturningBodyGivesItsValueAndCleansUp() async throws {
        let (harness, value) = try await EngineHarness.with { harness in (harness, 42) }
        #expect(value == 42)
        try await Self.expectCleanedUp(harness)
    }

    @Test func aGivenOriginAndFolderAreLeftToTheirOwnScope() async throws {
        try await EngineHarness.withDirectory { directory in
            try await EngineHarness.withOrigin { origin in
                try await EngineHarness.with(origin: origin, directory: directory) { _ in }
                #expect(FileManager.default.fileExists(atPath: directory.root))
                #expect(await Self.accepts(origin.port))
            }
            #expect(FileManager.default.fileExists(atPath: directory.root))
        }
    }
}
