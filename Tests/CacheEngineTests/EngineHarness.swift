import CacheProtocol
import Foundation
import CacheNodeCore
import CacheNodeTestSupport

@testable import CacheEngine

/// An engine on 127.0.0.1:0 over a temporary cache directory, with a test origin beside it.
///
/// Scoped by a closure, as Hummingbird's `testServer`: `with { harness in ... }` stops the engine, the origin and
/// removes the folder whether the body returns or throws.
struct EngineHarness {
    let engine: CacheEngine
    let task: Task<Void, any Error>
    let port: Int
    /// The TLS listener's port, when the configuration sets `engine.https` (see `TLSFixture`).
    let httpsPort: Int?
    let adminPort: Int
    let directory: TestCacheDirectory
    let origin: TestOrigin
    /// The cache's clock for freshness and ages, and the origin's `Date`: it moves only with `advance(seconds:)`.
    let clock: TestClock

    /// Runs `body` with an engine and, unless given, a new test origin and temporary folder; afterwards (returned or
    /// thrown) the engine stops and what was created here is stopped and removed. A given origin or folder is the
    /// caller's (scope it with `withOrigin`/`withDirectory`), so an engine can restart on the same folder.
    ///
    /// With `tls` the new origin serves HTTPS with that fixture's certificate and the engine lists it as `https://`
    /// and trusts the fixture's CA: a request that arrives over TLS is fetched over TLS only.
    @discardableResult
    static func with<T>(
        origin: TestOrigin? = nil,
        tls: TLSFixture? = nil,
        directory: TestCacheDirectory? = nil,
        configure: (inout NodeConfiguration) -> Void = { _ in },
        blockSize: Int = 64 * 1024,
        driveBytes: Int64 = 1 << 30,
        resolver: any HostResolver = SystemResolver(),
        healthClock: @escaping @Sendable () -> Date = { Date() },
        clock: TestClock? = nil,
        certificateCheckInterval: Duration = .seconds(10),
        _ body: (EngineHarness) async throws -> T
    ) async throws -> T {
        try await withDirectory(directory) { directory in
            try await withOrigin(origin, tls: tls) { origin in
                let harness = try await start(
                    clock: clock ?? TestClock(),
                    origin: origin,
                    directory: directory,
                    configure: { configuration in
                        configure(&configuration)
                        tls?.trust(origin, in: &configuration)
                    },
                    blockSize: blockSize,
                    driveBytes: driveBytes,
                    resolver: resolver,
                    healthClock: healthClock,
                    certificateCheckInterval: certificateCheckInterval
                )
                let result: T
                do {
                    result = try await body(harness)
                } catch {
                    try? await harness.stop()
                    throw error
                }
                try await harness.stop()
                return result
            }
        }
    }

    /// Runs `body` with `origin`, or with a new test origin that is stopped afterwards, returned or thrown.
    @discardableResult
    static func withOrigin<T>(
        _ origin: TestOrigin? = nil,
        tls: TLSFixture? = nil,
        _ body: (TestOrigin) async throws -> T
    ) async throws -> T {
        if let origin { return try await body(origin) }
        let created = try await TestOrigin.start(tls: tls.map { ($0.certificate, $0.key) })
        let result: T
        do {
            result = try await body(created)
        } catch {
            await created.stop()
            throw error
        }
        await created.stop()
        return result
    }

    /// Runs `body` with `directory`, or with a new temporary folder that is removed afterwards, returned or thrown.
    @discardableResult
    static func withDirectory<T>(
        _ directory: TestCacheDirectory? = nil,
        _ body: (TestCacheDirectory) async throws -> T
    ) async throws -> T {
        if let directory { return try await body(directory) }
        let created = TestCacheDirectory()
        defer { created.remove() }
        return try await body(created)
    }

    private static func start(
        clock: TestClock,
        origin: TestOrigin,
        directory: TestCacheDirectory,
        configure: (inout NodeConfiguration) -> Void,
        blockSize: Int,
        driveBytes: Int64,
        resolver: any HostResolver,
        healthClock: @escaping @Sendable () -> Date,
        certificateCheckInterval: Duration
    ) async throws -> EngineHarness {
        var configuration = directory.configuration(driveBytes: driveBytes, blockSize: blockSize)
        configure(&configuration)
        let allowlist = OriginAllowlist(
            patterns: ["*.download.windowsupdate.com"],
            extra: configuration.engine.extraOrigins
        )
        let engine = try CacheEngine(
            configuration: configuration,
            allowlist: allowlist,
            resolver: resolver,
            healthClock: healthClock,
            cacheClock: { clock.now },
            certificateCheckInterval: certificateCheckInterval
        )
        origin.use(clock)
        let task = Task { try await engine.run() }
        let port = try await engine.listenPort()
        let adminPort = try await engine.adminPort()
        let httpsPort = configuration.engine.https == nil ? nil : try await engine.httpsPort()
        return EngineHarness(
            engine: engine,
            task: task,
            port: port,
            httpsPort: httpsPort,
            adminPort: adminPort,
            directory: directory,
            origin: origin,
            clock: clock
        )
    }

    /// Lets `seconds` pass for the cache's freshness and the origin's `Date` (nothing else waits).
    func advance(seconds: Int64) {
        clock.advance(seconds: seconds)
    }

    /// The target for `path` on the test origin.
    func target(_ path: String, query: String? = nil) -> String {
        let extra = query.map { "&\($0)" } ?? ""
        return "\(path)?cacheHostOrigin=\(origin.authority)\(extra)"
    }

    func get(_ path: String, method: String = "GET", headers: [(String, String)] = []) async throws -> TestResponse {
        try await TestHTTPClient.get(port: port, target(path), method: method, headers: headers)
    }

    /// Graceful stop: in-flight responses finish, then `run()` returns. `with` stops the engine again at its end,
    /// which then does nothing.
    func stop() async throws {
        engine.shutdown()
        try await task.value
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
