import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

/// A tmpfs mounted by a test on a cache drive, so the drive can fill up or turn read-only.
struct TestMount {
    let path: String

    /// Whether this machine lets the tests mount a tmpfs (root, and not in a restricted container); probed once.
    static let permitted: Bool = {
        let probe = TestCacheDirectory(prefix: "cachenode-mount-probe")
        defer { probe.remove() }
        guard let mount = TestMount(path: probe.root, megabytes: 1) else { return false }
        mount.unmount()
        return true
    }()

    /// Mounts a tmpfs of `megabytes` at `path`; `nil` when mounting is not permitted.
    init?(path: String, megabytes: Int) {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) else { return nil }
        self.path = path
    }

    @discardableResult
    func remountReadOnly() -> Bool {
        Self.run("/usr/bin/mount", ["-o", "remount,ro", path])
    }

    func unmount() {
        Self.run("/usr/bin/umount", ["-l", path])
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) -> Bool {
        (try? ChildProcess.run([tool] + arguments).status) == 0
    }
}

/// Disk faults: a drive that fills up, turns read-only, or loses files behind the engine's back.
@Suite
struct DiskFaultTests {
    @Test(
        .enabled(
            if: TestMount.permitted,
            "mounting a tmpfs is not permitted on this machine (needs root, CAP_SYS_ADMIN)"
        )
    )
    func fullDriveServesFromOriginWithoutErrors() async throws {
        try await EngineHarness.withDirectory { directory in
            let mount = try #require(TestMount(path: directory.drive, megabytes: 8))
            defer { mount.unmount() }
            // The configuration claims far more than the 8 MiB the file system holds.
            try await EngineHarness.with(directory: directory, driveBytes: 64_000_000) { harness in
                let healthy = harness.origin.add("/healthy.bin", length: 400_000, seed: 95)
                let objects = (0..<6).map {
                    harness.origin.add("/full\($0).bin", length: 2 * 1024 * 1024, seed: UInt8(100 + $0))
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for _ in 0..<2 {
                            for (index, bytes) in objects.enumerated() {
                                let response = try await harness.get("/full\(index).bin")
                                #expect(response.status == 200)
                                expectBytes(response.body, bytes, "object \(index)")
                            }
                        }
                    }
                    group.addTask { try await harness.expectHealthy("/healthy.bin", healthy) }
                    try await group.waitForAll()
                }
                await harness.engine.settle()
                #expect(await harness.engine.status().originErrors == 0)
                try await harness.expectHealthy("/healthy.bin", healthy)
            }
        }
    }

    @Test(
        .enabled(
            if: TestMount.permitted,
            "mounting a tmpfs is not permitted on this machine (needs root, CAP_SYS_ADMIN)"
        )
    )
    func readOnlyDriveKeepsServing() async throws {
        try await EngineHarness.withDirectory { directory in
            let mount = try #require(TestMount(path: directory.drive, megabytes: 16))
            defer { mount.unmount() }
            try await EngineHarness.withOrigin { origin in
                let cached = origin.add("/cached.bin", length: 1_000_000, seed: 111)
                let fresh = origin.add("/fresh.bin", length: 1_000_000, seed: 112)
                try await Self.warm(origin: origin, directory: directory, path: "/cached.bin", bytes: cached)
                // Linux refuses `remount,ro` (EBUSY) while the journal is open for writing: the drive turns read-only
                // between two runs of the engine, once the first one has released it.
                #expect(mount.remountReadOnly())
                try await EngineHarness.with(origin: origin, directory: directory) { harness in
                    for _ in 0..<2 {
                        async let one = harness.get("/cached.bin", headers: [("Range", "bytes=1000-900000")])
                        async let two = harness.get("/fresh.bin")
                        expectBytes(try await one.body, cached[1000...900_000])
                        let response = try await two
                        #expect(response.status == 200)
                        expectBytes(response.body, fresh)
                    }
                    await harness.engine.settle()
                    #expect(await harness.engine.status().originErrors == 0)
                }
            }
        }
    }

    /// Fills `path` through an engine that is stopped and released before returning.
    static func warm(origin: TestOrigin, directory: TestCacheDirectory, path: String, bytes: [UInt8]) async throws {
        try await EngineHarness.with(origin: origin, directory: directory) { harness in
            expectBytes(try await harness.get(path).body, bytes)
            await harness.engine.settle()
        }
    }

    @Test func cacheFilesRemovedOrTruncatedAreRefetched() async throws {
        try await EngineHarness.with { harness in
            let healthy = harness.origin.add("/healthy.bin", length: 400_000, seed: 95)
            let bytes = harness.origin.add("/d.bin", length: 1_000_000, seed: 113)
            expectBytes(try await harness.get("/d.bin").body, bytes)
            await harness.engine.settle()
            let files = DiskUsage.files(under: harness.directory.drive).filter { $0.contains("/blocks/") }
            #expect(files.count >= 10)
            for (index, file) in files.enumerated() {
                switch index % 3 {
                case 0: unlink(file)
                case 1: truncate(file, 1000)
                default: continue
                }
            }
            let before = harness.origin.requests("/d.bin")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let whole = try await harness.get("/d.bin")
                    #expect(whole.status == 200)
                    #expect(whole.complete)
                    expectBytes(whole.body, bytes)
                    let part = try await harness.get("/d.bin", headers: [("Range", "bytes=100000-700000")])
                    expectBytes(part.body, bytes[100_000...700_000])
                }
                group.addTask { try await harness.expectHealthy("/healthy.bin", healthy) }
                try await group.waitForAll()
            }
            #expect(harness.origin.requests("/d.bin") > before, "the damaged blocks were not fetched again")
            expectBytes(try await harness.get("/d.bin").body, bytes)
        }
    }
}
