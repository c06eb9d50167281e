import CacheProtocol
import Foundation
import CacheNodeCore
import CacheNodeTestSupport

@testable import CacheEngine

/// An engine on 127.0.0.1:0 over a temporary cache directory, with a test origin beside it.
struct EngineHarness {
    let engine: CacheEngine
    let task: Task<Void, any Error>
    let port: Int
    let adminPort: Int
    let directory: TestCacheDirectory
    let origin: TestOrigin

    static func start(
        origin: TestOrigin? = nil,
        directory: TestCacheDirectory = TestCacheDirectory(),
        configure: (inout NodeConfiguration) -> Void = { _ in },
        blockSize: Int = 64 * 1024,
        driveBytes: Int64 = 1 << 30,
        resolver: any HostResolver = SystemResolver(),
        healthClock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> EngineHarness {
        let origin = if let origin { origin } else { try await TestOrigin.start() }
        var configuration = directory.configuration(driveBytes: driveBytes, blockSize: blockSize)
        configure(&configuration)
        let allowlist = OriginAllowlist(patterns: ["*.download.windowsupdate.com"], extra: configuration.engine.extraOrigins)
        let engine = try CacheEngine(
            configuration: configuration,
            allowlist: allowlist,
            resolver: resolver,
            healthClock: healthClock
        )
        let task = Task { try await engine.run() }
        let port = try await engine.listenPort()
        let adminPort = try await engine.adminPort()
        return EngineHarness(engine: engine, task: task, port: port, adminPort: adminPort, directory: directory, origin: origin)
    }

    /// The target for `path` on the test origin.
    func target(_ path: String, query: String? = nil) -> String {
        let extra = query.map { "&\($0)" } ?? ""
        return "\(path)?cacheHostOrigin=\(origin.authority)\(extra)"
    }

    func get(_ path: String, method: String = "GET", headers: [(String, String)] = []) async throws -> TestResponse {
        try await TestHTTPClient.get(port: port, target(path), method: method, headers: headers)
    }

    /// Graceful stop: in-flight responses finish, then `run()` returns.
    func stop() async throws {
        engine.shutdown()
        try await task.value
    }

    func stopAll() async throws {
        try await stop()
        await origin.stop()
        directory.remove()
    }
}

/// A small deterministic generator so random ranges are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
