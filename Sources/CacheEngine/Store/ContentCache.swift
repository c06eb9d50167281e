import CacheProtocol
import AsyncHTTPClient
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Where the bytes of one block come from.
package enum BlockSource: Sendable {
    case disk(BlockStore.OpenBlock)
    case fill(BlockFill)
}

/// Collapsed fills over the block store: one origin request per cold block, whatever the number of clients.
///
/// An object not yet known is probed with one block-aligned range request; concurrent requests wait for
/// that probe's metadata. Known objects fetch the runs of missing blocks with range requests over up to
/// `fillConnections` origin connections at once, each for its own contiguous part, and every reader of a block in
/// flight streams from its `BlockFill`: a client gets its bytes in order while the later parts fill beside it.
/// A client that reads an object in sequence gets the next blocks started before it asks (read-ahead).
///
/// Every origin fetch is a child task of `run()`, which takes them from a stream until `finishFetches()`.
package final class ContentCache: Sendable {
    struct Inflight {
        var meta: ObjectMetadata?
        var probe: MetadataProbe?
        var fills: [Int: BlockFill] = [:]

        var isIdle: Bool { probe == nil && fills.isEmpty }
    }

    package let store: BlockStore
    package let origin: OriginClient
    let counters: EngineCounters
    let logger: Logger
    private let inflight = Mutex<[String: Inflight]>([:])
    /// Fetches launched and not yet ended, and the tasks waiting for none to be.
    private let fetches = Mutex(FetchCount())
    /// The fetches for `run()` to start, in the order they were launched.
    private let jobs: AsyncStream<FetchJob>
    private let newJobs: AsyncStream<FetchJob>.Continuation
    /// Origin connections the missing blocks of one request are fetched over at once.
    let fillConnections: Int
    /// Where the last request for each recently read object ended, to see a client reading in sequence.
    private let readEnds = Mutex<[String: Int]>([:])
    /// Objects whose read position is remembered at most (a table of a few hundred KiB).
    static let readEndsLimit = 4096

    package init(
        store: BlockStore,
        origin: OriginClient,
        counters: EngineCounters,
        logger: Logger,
        fillConnections: Int = 4
    ) {
        self.store = store
        self.origin = origin
        self.counters = counters
        self.logger = logger
        self.fillConnections = max(1, fillConnections)
        (jobs, newJobs) = AsyncStream.makeStream(of: FetchJob.self)
    }

    /// Runs the origin fetches as child tasks, until `finishFetches()` and then the end of every fetch launched.
    ///
    /// Cancelled, it cancels the fetches in flight: their readers get a failure. Call it once.
    package func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask {
                    if Task.isCancelled {
                        self.abandon(job, .cancelled)
                    } else {
                        await self.fetch(job)
                    }
                    self.fetchEnded()
                }
            }
        }
    }

    /// Ends the stream of fetches: `run()` returns once those launched have ended; one launched later fails at once.
    package func finishFetches() {
        newJobs.finish()
    }

    var blockSize: Int { store.blockSize }

    /// The object's metadata: stored, known from a fill in flight, or from a probe shared with concurrent requests.
    package func lookup(_ request: CacheRequest, address: IPAddress?, start: Int64?) async -> MetadataProbe.Outcome {
        let key = request.cacheKey
        if let meta = store.metadata(for: key) { return .object(meta) }
        enum Step {
            case known(ObjectMetadata)
            case wait(MetadataProbe)
            case launch(MetadataProbe, BlockFill)
        }
        let block = Int((start ?? 0) / Int64(blockSize))
        let step: Step = inflight.withLock { table in
            var entry = table[key] ?? Inflight()
            if let meta = entry.meta { return .known(meta) }
            if let probe = entry.probe { return .wait(probe) }
            let probe = MetadataProbe()
            let fill = entry.fills[block] ?? BlockFill(index: block)
            entry.probe = probe
            entry.fills[block] = fill
            table[key] = entry
            return .launch(probe, fill)
        }
        switch step {
        case .known(let meta):
            return .object(meta)
        case .wait(let probe):
            return await probe.outcome()
        case .launch(let probe, let fill):
            launch(FetchJob(request: request, address: address, known: nil, fills: [fill][...], probe: probe))
            return await probe.outcome()
        }
    }

    /// Starts origin requests for the blocks in `blocks` that are neither stored nor in flight: each run of them in
    /// parts over up to `fillConnections` connections.
    package func prefetch(_ request: CacheRequest, address: IPAddress?, meta: ObjectMetadata, blocks: ClosedRange<Int>)
    {
        for part in Self.split(missingRuns(request.cacheKey, meta: meta, blocks: blocks), into: fillConnections) {
            launch(FetchJob(request: request, address: address, known: meta, fills: part, probe: nil))
        }
    }

    /// Notes where a request for `blocks` of an object ended; when it starts where the previous one ended (a client
    /// reading in sequence), the next blocks after it, as many as the request's and at most `fillConnections`, are
    /// started now, so they are stored or in flight when the client asks.
    package func readAhead(_ request: CacheRequest, address: IPAddress?, meta: ObjectMetadata, blocks: ClosedRange<Int>)
    {
        let key = request.cacheKey
        let sequential = readEnds.withLock { ends -> Bool in
            let previous = ends[key]
            if previous == nil && ends.count >= Self.readEndsLimit { ends.removeAll(keepingCapacity: true) }
            ends[key] = blocks.upperBound
            return previous == blocks.lowerBound - 1
        }
        let first = blocks.upperBound + 1
        guard sequential, first < meta.blockCount else { return }
        let ahead = first...min(meta.blockCount - 1, blocks.upperBound + min(blocks.count, fillConnections))
        for part in Self.split(missingRuns(key, meta: meta, blocks: ahead), into: fillConnections) {
            launch(FetchJob(request: request, address: address, known: meta, fills: part, probe: nil))
        }
    }

    /// Splits runs of blocks into at most `connections` contiguous parts (more only when there are more runs), by
    /// halving the longest part: each part is one origin request on its own connection.
    static func split(_ runs: [[BlockFill]], into connections: Int) -> [ArraySlice<BlockFill>] {
        var parts = runs.map { $0[...] }
        while parts.count < connections, let longest = parts.indices.max(by: { parts[$0].count < parts[$1].count }),
            parts[longest].count > 1
        {
            let part = parts[longest]
            let middle = part.startIndex + part.count / 2
            parts.replaceSubrange(longest...longest, with: [part[..<middle], part[middle...]])
        }
        return parts
    }

    /// Registers a fill for each block in `blocks` that is neither stored nor in flight, as runs of adjacent blocks.
    private func missingRuns(_ key: String, meta: ObjectMetadata, blocks: ClosedRange<Int>) -> [[BlockFill]] {
        inflight.withLock { table in
            var entry = table[key] ?? Inflight()
            var runs: [[BlockFill]] = []
            var current: [BlockFill] = []
            for index in blocks {
                if entry.fills[index] == nil && !store.contains(key: key, block: index) {
                    let fill = BlockFill(index: index)
                    entry.fills[index] = fill
                    current.append(fill)
                } else if !current.isEmpty {
                    runs.append(current)
                    current = []
                }
            }
            if !current.isEmpty { runs.append(current) }
            guard !runs.isEmpty else { return [] }
            if entry.meta == nil { entry.meta = meta }
            table[key] = entry
            return runs
        }
    }

    /// The source of one block: a fill in flight, the stored block, or a fill started now.
    package func source(_ request: CacheRequest, address: IPAddress?, meta: ObjectMetadata, block: Int) -> BlockSource {
        let key = request.cacheKey
        enum Step {
            case source(BlockSource)
            case launch(BlockFill)
        }
        let step: Step = inflight.withLock { table in
            if let fill = table[key]?.fills[block] { return .source(.fill(fill)) }
            if let opened = store.open(key: key, block: block) { return .source(.disk(opened)) }
            var entry = table[key] ?? Inflight()
            let fill = BlockFill(index: block)
            entry.fills[block] = fill
            if entry.meta == nil { entry.meta = meta }
            table[key] = entry
            return .launch(fill)
        }
        switch step {
        case .source(let source):
            return source
        case .launch(let fill):
            launch(FetchJob(request: request, address: address, known: meta, fills: [fill][...], probe: nil))
            return .fill(fill)
        }
    }

    /// Hands one origin fetch to `run()`; counted from now until it ends, for `idle()`.
    private func launch(_ job: FetchJob) {
        fetches.withLock { $0.launched() }
        if case .enqueued = newJobs.yield(job) { return }
        // The stream has ended (the engine is stopping): nothing new reaches the origin.
        abandon(job, .cancelled)
        fetchEnded()
    }

    private func fetchEnded() {
        fetches.withLock { $0.ended() }.forEach { $0.resume() }
    }

    /// Fails a fetch that does not run: its fills and probe are forgotten, then their readers wake with `failure`.
    private func abandon(_ job: FetchJob, _ failure: OriginFailure) {
        release(key: job.request.cacheKey, fills: Array(job.fills), probe: job.probe, meta: nil)
        for fill in job.fills { fill.fail(failure) }
        job.probe?.resolve(.failed(failure))
    }

    /// Returns once no origin fetch is running: fills in flight are stored (or failed). A cancelled waiter returns
    /// at once.
    package func idle() async {
        let id = fetches.withLock { $0.waiters.nextID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = fetches.withLock { state -> Bool in
                    state.running == 0 || !state.waiters.add(continuation, id: id)
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            fetches.withLock { $0.waiters.remove(id: id) }?.resume()
        }
    }

    /// Fetches launched and not yet ended (tests).
    var fetchesRunning: Int { fetches.withLock { $0.running } }

    /// Tasks waiting in `idle()` (tests).
    var idleWaiterCount: Int { fetches.withLock { $0.waiters.count } }

    /// Fetches a contiguous run of blocks with one range request and feeds, stores and completes each fill in turn.
    private func fetch(_ job: FetchJob) async {
        let (request, address, known, fills, probe) = (job.request, job.address, job.known, job.fills, job.probe)
        let key = request.cacheKey
        let first = fills.first!.index
        let last = fills.last!.index
        let start = Int64(first) * Int64(blockSize)
        var end = Int64(last + 1) * Int64(blockSize) - 1
        if let known { end = min(end, known.length - 1) }
        var pending = fills

        func finish(_ failure: OriginFailure) {
            // A fetch cancelled because the engine stops says nothing about the origin: not counted, not judged.
            if failure != .cancelled {
                counters.originError(failure)
                logger.warning(
                    "origin fetch failed",
                    metadata: ["origin.host": "\(request.host)", "origin.failure": "\(failure)"]
                )
            }
            // Forgotten before the readers wake, so a reader that asks again starts a new fetch.
            release(key: key, fills: Array(pending), probe: probe, meta: nil)
            for fill in pending { fill.fail(failure) }
            probe?.resolve(.failed(failure))
        }

        let response: HTTPClientResponse
        do {
            response = try await origin.send(
                request,
                address: address,
                headers: [("Range", "bytes=\(start)-\(end)"), ("User-Agent", EngineInfo.userAgent)]
            )
        } catch {
            finish(error)
            return
        }
        let verdict = OriginVerdict.classify(
            status: Int(response.status.code),
            headers: response.headers,
            key: key,
            blockSize: blockSize,
            requestedStart: start,
            known: known
        )
        if case .failure = verdict {} else { counters.originSucceeded() }
        let meta: ObjectMetadata
        let bodyStart: Int64
        switch verdict {
        case .failure(let failure):
            if failure == .changed {
                store.drop(key: key)
                inflight.withLock { table in table[key]?.meta = nil }
            }
            finish(failure)
            return
        case .uncacheable(let reason):
            release(key: key, fills: Array(pending), probe: probe, meta: nil)
            for fill in pending { fill.fail(.invalidResponse(reason.description)) }
            probe?.resolve(.uncacheable(reason))
            return
        case .cacheable(let received, let from):
            meta = received
            bodyStart = from
        }
        if probe != nil {
            inflight.withLock { table in
                if table[key]?.meta == nil { table[key]?.meta = meta }
            }
            probe?.resolve(.object(meta))
        }
        // The run may reach past the object's end now that its length is known.
        while let lastFill = pending.last, lastFill.index >= meta.blockCount {
            release(key: key, fills: [lastFill], probe: nil, meta: meta)
            lastFill.fail(.invalidResponse("beyond the end of the object"))
            pending = pending.dropLast()
        }
        guard !pending.isEmpty else {
            release(key: key, fills: [], probe: probe, meta: meta)
            return
        }
        // A response that ignored Range starts before the run: its first bytes are skipped.
        let run = pending.first!.index...pending.last!.index
        var placement = BodyPlacement(layout: meta.layout, blocks: run, bodyStart: bodyStart)
        do {
            reading: for try await var chunk in response.body {
                counters.addFromOrigin(chunk.readableBytes)
                while chunk.readableBytes > 0 {
                    switch placement.next(available: chunk.readableBytes) {
                    case .skip(let count):
                        chunk.moveReaderIndex(forwardBy: count)
                    case .append(let block, let count, let completes):
                        guard let fill = pending.first, fill.index == block else { break reading }
                        fill.append(chunk.readSlice(length: count)!)
                        if completes {
                            pending = pending.dropFirst()
                            let stored = await storeBlock(meta, fill: fill)
                            release(key: key, fills: [fill], probe: nil, meta: meta)
                            fill.complete(stored: stored)
                        }
                    case .done:
                        break reading
                    }
                }
                if pending.isEmpty { break }
            }
        } catch {
            finish(OriginClient.failure(error))
            return
        }
        if !pending.isEmpty {
            finish(.shortBody)
            return
        }
        release(key: key, fills: [], probe: probe, meta: meta)
    }

    private func storeBlock(_ meta: ObjectMetadata, fill: BlockFill) async -> Bool {
        let chunks = fill.chunks
        let store = self.store
        return (try? await NIOThreadPool.singleton.runIfActive { store.store(meta, block: fill.index, chunks: chunks) })
            ?? false
    }

    /// Forgets finished fills (after they were stored) and a resolved probe.
    private func release(key: String, fills: [BlockFill], probe: MetadataProbe?, meta: ObjectMetadata?) {
        inflight.withLock { table in
            guard var entry = table[key] else { return }
            for fill in fills where entry.fills[fill.index] === fill { entry.fills[fill.index] = nil }
            if let probe, entry.probe === probe { entry.probe = nil }
            if entry.isIdle {
                table[key] = nil
            } else {
                table[key] = entry
            }
        }
    }
}

/// One origin request for `ContentCache.run()`: a contiguous run of fills, and the probe of an object not yet known.
struct FetchJob: Sendable {
    var request: CacheRequest
    var address: IPAddress?
    var known: ObjectMetadata?
    var fills: ArraySlice<BlockFill>
    var probe: MetadataProbe?
}

/// The origin fetches launched and not yet ended, and the tasks waiting for there to be none.
struct FetchCount {
    private(set) var running = 0
    var waiters = Waiters<Void>()

    mutating func launched() {
        running += 1
    }

    /// One fetch ended: the waiters to resume when it was the last.
    mutating func ended() -> [Waiters<Void>.Continuation] {
        running -= 1
        return running == 0 ? waiters.removeAll() : []
    }
}
