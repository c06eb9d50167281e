import CacheNodeTestSupport
import CacheProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import CacheEngine

/// Waits without a clock: polls `condition` until it holds.
private func until(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(2)) }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}

/// Every waiter of the store honours cancellation: a cancelled one is taken out and returns at once.
struct WaiterCancellationTests {
    @Test func aCancelledReaderOfAFillReturnsAndTheOthersStillGetTheBytes() async throws {
        let fill = BlockFill(index: 0)
        let cancelled = Task { await fill.next(from: 0) }
        let patient = Task { await fill.next(from: 0) }
        try await until { fill.waiterCount == 2 }
        cancelled.cancel()
        guard case .failed(let failure) = await cancelled.value else {
            Issue.record("a cancelled reader must get a failure")
            return
        }
        #expect(failure == .cancelled)
        #expect(fill.waiterCount == 1)
        fill.append(ByteBuffer(bytes: [1, 2, 3]))
        guard case .bytes(let bytes) = await patient.value else {
            Issue.record("the other reader must get the bytes")
            return
        }
        #expect(Array(bytes.readableBytesView) == [1, 2, 3])
    }

    @Test func aReaderCancelledBeforeItWaitsReturnsAndIsNotKept() async {
        let fill = BlockFill(index: 0)
        let reader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await fill.next(from: 0)
        }
        guard case .failed(.cancelled) = await reader.value else {
            Issue.record("a cancelled reader must get a failure")
            return
        }
        #expect(fill.waiterCount == 0)
    }

    @Test func aCancelledProbeWaiterReturnsAndTheOthersGetTheOutcome() async throws {
        let probe = MetadataProbe()
        let cancelled = Task { await probe.outcome() }
        let patient = Task { await probe.outcome() }
        try await until { probe.waiterCount == 2 }
        cancelled.cancel()
        guard case .failed(.cancelled) = await cancelled.value else {
            Issue.record("a cancelled waiter must get a failure")
            return
        }
        #expect(probe.waiterCount == 1)
        probe.resolve(.failed(.shortBody))
        guard case .failed(.shortBody) = await patient.value else {
            Issue.record("the other waiter must get the probe's outcome")
            return
        }
    }
}

/// Origin fetches are child tasks of `ContentCache.run()`: `idle()` waits for those in flight, the end of the stream
/// lets them finish, cancellation cancels them.
struct FetchLifecycleTests {
    static let block = 64 * 1024

    /// A cache over a temporary store and a test origin, closed and removed whatever the body does.
    static func withCache(
        readTimeout: TimeAmount = .seconds(60),
        _ body: (ContentCache, TestOrigin, TestCacheDirectory) async throws -> Void
    ) async throws {
        try await EngineHarness.withDirectory { directory in
            try await EngineHarness.withOrigin { origin in
                let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
                let store = try BlockStore(
                    drives: [BlockStore.Drive(path: directory.drive, capacityBytes: 1 << 30)],
                    blockSize: block,
                    logger: logger
                )
                defer { store.closeJournals() }
                let client = OriginClient(connectTimeout: .seconds(10), readTimeout: readTimeout, proxy: nil)
                // The cache's own disk pool, as the engine gives it one.
                let disk = NIOThreadPool(numberOfThreads: 2)
                disk.start()
                let cache = ContentCache(
                    store: store,
                    origin: client,
                    counters: EngineCounters(health: EngineHealth(issuesPath: nil)),
                    logger: logger,
                    disk: disk
                )
                do {
                    try await body(cache, origin, directory)
                } catch {
                    cache.finishFetches()
                    await client.shutdown()
                    try? await disk.shutdownGracefully()
                    throw error
                }
                cache.finishFetches()
                await client.shutdown()
                try await disk.shutdownGracefully()
            }
        }
    }

    static func request(_ origin: TestOrigin, _ path: String) -> CacheRequest {
        CacheRequest(host: "127.0.0.1", port: origin.port, path: path)
    }

    @Test func idleWaitsForTheFetchesInFlightNotForTheEndOfTheStream() async throws {
        try await Self.withCache { cache, origin, _ in
            origin.add("/a.bin", length: 3 * Self.block, seed: 5)
            origin.setFault(.delay(200), for: "/a.bin")
            let ended = Flag()
            let running = Task {
                await cache.run()
                ended.set()
            }
            let request = Self.request(origin, "/a.bin")
            guard case .object(let meta, _) = await cache.lookup(request, address: nil, start: 0) else {
                Issue.record("the probe must find the object")
                return
            }
            cache.prefetch(request, address: nil, meta: meta, blocks: 1...2)
            await cache.idle()
            #expect(cache.fetchesRunning == 0)
            #expect(cache.store.storedBlocks(key: request.cacheKey) == [0, 1, 2])
            #expect(!ended.isSet, "run() goes on until the stream ends")
            cache.finishFetches()
            await running.value
            #expect(ended.isSet)
        }
    }

    @Test func theEndOfTheStreamLetsTheFetchesLaunchedFinish() async throws {
        try await Self.withCache { cache, origin, _ in
            origin.add("/b.bin", length: 2 * Self.block, seed: 6)
            let request = Self.request(origin, "/b.bin")
            // Launched before run() starts and before the stream ends: it still reaches the origin and is stored.
            let reader = Task { await cache.lookup(request, address: nil, start: 0) }
            try await until { cache.fetchesRunning == 1 }
            cache.finishFetches()
            await cache.run()
            guard case .object = await reader.value else {
                Issue.record("the fetch launched before the end must run")
                return
            }
            #expect(cache.fetchesRunning == 0)
            #expect(cache.store.storedBlocks(key: request.cacheKey) == [0])
        }
    }

    @Test func aFetchLaunchedAfterTheStreamEndedFailsAtOnce() async throws {
        try await Self.withCache { cache, origin, _ in
            origin.add("/c.bin", length: Self.block, seed: 7)
            cache.finishFetches()
            await cache.run()
            guard case .failed(.cancelled) = await cache.lookup(Self.request(origin, "/c.bin"), address: nil, start: 0)
            else {
                Issue.record("nothing reaches the origin once the stream ended")
                return
            }
            #expect(origin.requests("/c.bin") == 0)
            #expect(cache.fetchesRunning == 0)
            await cache.idle()
        }
    }

    @Test func cancellingRunCancelsTheFetchesInFlight() async throws {
        try await Self.withCache(readTimeout: .seconds(600)) { cache, origin, _ in
            origin.add("/d.bin", length: Self.block, seed: 8)
            origin.setFault(.hang, for: "/d.bin")
            let running = Task { await cache.run() }
            let reader = Task { await cache.lookup(Self.request(origin, "/d.bin"), address: nil, start: 0) }
            try await until { origin.requests("/d.bin") == 1 }
            // The origin never answers: only cancellation ends the fetch (the read timeout is ten minutes).
            running.cancel()
            await running.value
            guard case .failed = await reader.value else {
                Issue.record("the reader of a cancelled fetch gets a failure")
                return
            }
            #expect(cache.fetchesRunning == 0)
            // A stop is not the origin's failure: nothing counted, nothing for the health rules.
            #expect(cache.counters.snapshot.originErrors == 0)
        }
    }

    @Test func aCancelledIdleWaiterReturns() async throws {
        try await Self.withCache { cache, origin, _ in
            origin.add("/e.bin", length: Self.block, seed: 9)
            // run() has not started: the fetch stays launched and `idle()` has to wait.
            let reader = Task { await cache.lookup(Self.request(origin, "/e.bin"), address: nil, start: 0) }
            try await until { cache.fetchesRunning == 1 }
            let waiter = Task { await cache.idle() }
            try await until { cache.idleWaiterCount == 1 }
            waiter.cancel()
            await waiter.value
            #expect(cache.idleWaiterCount == 0)
            #expect(cache.fetchesRunning == 1)
            reader.cancel()
            guard case .failed(.cancelled) = await reader.value else {
                Issue.record("a cancelled probe waiter gets a failure")
                return
            }
            cache.finishFetches()
            await cache.run()
            #expect(cache.fetchesRunning == 0)
        }
    }
}

/// The engine's stop order: the listeners stop, then the origin fetches in flight finish and are stored, then the
/// origin client and the journals close.
struct EngineStopOrderTests {
    @Test func listenersStopThenFetchesFinishThenTheJournalsClose() async throws {
        try await EngineHarness.with { harness in
            let block = 64 * 1024
            harness.origin.add("/seq.bin", length: 4 * block, seed: 12)
            // The read-ahead of block 2 is answered late: it is still in flight when the listeners stop.
            harness.origin.setFault(.delay(1500), for: "/seq.bin", rangeStartingAt: 2 * block)
            let first = try await harness.get("/seq.bin", headers: [("Range", "bytes=0-\(block - 1)")])
            #expect(first.status == 206)
            let second = try await harness.get("/seq.bin", headers: [("Range", "bytes=\(block)-\(2 * block - 1)")])
            #expect(second.status == 206)
            harness.engine.shutdown()
            // Nothing new is accepted while the fetch goes on.
            #expect(
                try await harness.eventually {
                    (try? await TestHTTPClient.get(port: harness.port, harness.target("/seq.bin"))) == nil
                }
            )
            try await harness.task.value
            #expect(harness.engine.cache.fetchesRunning == 0)
            // Stored and journaled before the journals closed: a store opened anew finds the block.
            let key = CacheRequest(host: "127.0.0.1", port: harness.origin.port, path: "/seq.bin").cacheKey
            let reopened = try BlockStore(
                drives: [BlockStore.Drive(path: harness.directory.drive, capacityBytes: 1 << 30)],
                blockSize: block,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            )
            #expect(reopened.storedBlocks(key: key) == [0, 1, 2])
            reopened.closeJournals()
        }
    }
}
