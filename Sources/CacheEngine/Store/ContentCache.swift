import CacheProtocol
import AsyncHTTPClient
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the bytes of one block come from.
package enum BlockSource: Sendable {
    case disk(BlockStore.OpenBlock)
    case fill(BlockFill)
}

/// Collapsed fills over the block store: one origin request per cold block, whatever the number of clients.
///
/// An object not yet known is probed with one block-aligned range request; concurrent requests wait for
/// that probe's metadata. A stored object past its freshness is revalidated the same way, with one conditional
/// request shared by every request that finds it stale (RFC 9111 4.3). Known objects fetch the runs of missing blocks with range requests over up to
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
    /// Where blocks are written to the store: the engine's own disk pool, never NIO's shared one (see
    /// `CacheEngine.diskThreads`).
    private let disk: NIOThreadPool
    /// Where the last request for each recently read object ended, to see a client reading in sequence.
    private let readEnds = Mutex<[String: Int]>([:])
    /// Objects whose read position is remembered at most (a table of a few hundred KiB).
    static let readEndsLimit = 4096
    /// Seconds past its freshness a stored object may be served while its origin cannot be reached (0: never).
    let staleIfError: Int64
    /// The time in whole seconds since 1970, for freshness and ages.
    let now: @Sendable () -> Int64

    package init(
        store: BlockStore,
        origin: OriginClient,
        counters: EngineCounters,
        logger: Logger,
        fillConnections: Int = 4,
        disk: NIOThreadPool,
        staleIfError: Int64 = 86_400,
        now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }
    ) {
        self.store = store
        self.origin = origin
        self.counters = counters
        self.logger = logger
        self.fillConnections = max(1, fillConnections)
        self.disk = disk
        self.staleIfError = staleIfError
        self.now = now
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

    /// The object's metadata: stored and fresh, known from a fill in flight, or from a probe shared with concurrent
    /// requests (a stale stored object's probe is its revalidation).
    package func lookup(_ request: CacheRequest, address: IPAddress?, start: Int64?) async -> MetadataProbe.Outcome {
        let key = request.cacheKey
        let now = now()
        let stored = store.metadata(for: key)
        if let stored, stored.freshness.isFresh(at: now) { return .object(stored, stale: false) }
        enum Step {
            case known(ObjectMetadata)
            case wait(MetadataProbe)
            case launch(MetadataProbe)
        }
        let step: Step = inflight.withLock { table in
            var entry = table[key] ?? Inflight()
            if let probe = entry.probe { return .wait(probe) }
            // A version being filled: the first one (nothing stored yet), a newer one, or one just revalidated.
            if let meta = entry.meta,
                stored.map({ !meta.sameContent(as: $0) || meta.freshness.isFresh(at: now) }) ?? true
            {
                return .known(meta)
            }
            let probe = MetadataProbe()
            entry.probe = probe
            table[key] = entry
            return .launch(probe)
        }
        switch step {
        case .known(let meta):
            return .object(meta, stale: false)
        case .wait(let probe):
            return await probe.outcome()
        case .launch(let probe):
            let block = Int((start ?? 0) / Int64(blockSize))
            launch(FetchJob(request: request, address: address, work: .probe(probe, block: block, stale: stored)))
            return await probe.outcome()
        }
    }

    /// Starts origin requests for the blocks in `blocks` that are neither stored nor in flight: each run of them in
    /// parts over up to `fillConnections` connections.
    package func prefetch(_ request: CacheRequest, address: IPAddress?, meta: ObjectMetadata, blocks: ClosedRange<Int>)
    {
        for part in Self.split(missingRuns(request.cacheKey, meta: meta, blocks: blocks), into: fillConnections) {
            launch(FetchJob(request: request, address: address, work: .fill(known: meta, part)))
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
            launch(FetchJob(request: request, address: address, work: .fill(known: meta, part)))
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

    /// Registers a fill for each block in `blocks` that is neither stored nor in flight, as runs of adjacent blocks;
    /// none when `meta` is no longer the object's version.
    private func missingRuns(_ key: String, meta: ObjectMetadata, blocks: ClosedRange<Int>) -> [[BlockFill]] {
        inflight.withLock { table in
            var entry = table[key] ?? Inflight()
            if let current = entry.meta ?? store.metadata(for: key), !current.sameContent(as: meta) { return [] }
            var runs: [[BlockFill]] = []
            var current: [BlockFill] = []
            for index in blocks {
                if entry.fills[index] == nil && !store.contains(key: key, block: index, version: meta) {
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

    /// The source of one block of `meta`'s version: a fill in flight, the stored block, or a fill started now; a
    /// failed fill (`changed`) when another version has replaced it, so versions are never mixed in one answer.
    package func source(_ request: CacheRequest, address: IPAddress?, meta: ObjectMetadata, block: Int) -> BlockSource {
        let key = request.cacheKey
        enum Step {
            case source(BlockSource)
            case launch(BlockFill)
            case changed
        }
        let step: Step = inflight.withLock { table in
            if let current = table[key]?.meta, !current.sameContent(as: meta) { return .changed }
            if let fill = table[key]?.fills[block] { return .source(.fill(fill)) }
            if let opened = store.open(key: key, block: block, version: meta) { return .source(.disk(opened)) }
            if let stored = store.metadata(for: key), !stored.sameContent(as: meta) { return .changed }
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
            launch(FetchJob(request: request, address: address, work: .fill(known: meta, [fill][...])))
            return .fill(fill)
        case .changed:
            let fill = BlockFill(index: block)
            fill.fail(.changed)
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
        switch job.work {
        case .probe(let probe, _, _):
            release(key: job.request.cacheKey, fills: [], probe: probe)
            probe.resolve(.failed(failure))
        case .fill(_, let fills):
            release(key: job.request.cacheKey, fills: Array(fills), probe: nil)
            for fill in fills { fill.fail(failure) }
        }
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

    private func fetch(_ job: FetchJob) async {
        switch job.work {
        case .probe(let probe, let block, let stale):
            await self.probe(job.request, address: job.address, probe: probe, block: block, stale: stale)
        case .fill(let known, let fills):
            await fill(job.request, address: job.address, known: known, fills: fills)
        }
    }

    private func failed(_ failure: OriginFailure, host: String) {
        // A fetch cancelled because the engine stops says nothing about the origin: not counted, not judged.
        guard failure != .cancelled else { return }
        counters.originError(failure)
        logger.warning("origin fetch failed", metadata: ["origin.host": "\(host)", "origin.failure": "\(failure)"])
    }

    /// Asks the origin for the block at `block` of an object not yet known, or (`stale`) revalidates a stored one with
    /// a conditional request; resolves `probe` for every waiter, and stores the block the answer carries.
    private func probe(
        _ request: CacheRequest,
        address: IPAddress?,
        probe: MetadataProbe,
        block: Int,
        stale: ObjectMetadata?
    ) async {
        let key = request.cacheKey
        let start = Int64(block) * Int64(blockSize)
        var headers = [
            ("Range", "bytes=\(start)-\(start + Int64(blockSize) - 1)"), ("User-Agent", EngineInfo.userAgent),
        ]
        if let stale {
            if let etag = stale.etag { headers.append(("If-None-Match", etag)) }
            if let modified = stale.lastModified { headers.append(("If-Modified-Since", modified)) }
        }
        func resolve(_ outcome: MetadataProbe.Outcome) {
            release(key: key, fills: [], probe: probe)
            probe.resolve(outcome)
        }
        /// No usable answer: a stale object is served while it may be, else the failure (or the 5xx) is answered.
        func unanswered(_ failure: OriginFailure, relay: RelayedAnswer? = nil) {
            failed(failure, host: request.host)
            if let stale, failure != .cancelled {
                counters.revalidated(.failed)
                if stale.freshness.mayServeStale(at: now(), limit: staleIfError) {
                    return resolve(.object(stale, stale: true))
                }
            }
            resolve(relay.map { .relay($0) } ?? .failed(failure))
        }
        let requestTime = now()
        let response: HTTPClientResponse
        do {
            response = try await origin.send(request, address: address, headers: headers)
        } catch {
            return unanswered(error)
        }
        let responseTime = now()
        let status = Int(response.status.code)
        if let stale, status == 304 {
            counters.originSucceeded()
            counters.revalidated(.notModified)
            let refreshed = stale.refreshed(
                notModified: response.headers.fields,
                requestTime: requestTime,
                responseTime: responseTime
            )
            store.refresh(refreshed)
            inflight.withLock { table in
                if let meta = table[key]?.meta, meta.sameContent(as: refreshed) { table[key]?.meta = refreshed }
            }
            return resolve(.object(refreshed, stale: false))
        }
        let answer = OriginAnswer.classify(
            status: status,
            headers: response.headers.fields,
            requestedStart: start,
            requestTime: requestTime,
            responseTime: responseTime
        )
        let meta: ObjectMetadata
        let bodyStart: Int64
        switch answer {
        case .unusable(let reason):
            let failure = OriginFailure(reason)
            // The origin's own 5xx goes to the client as it is, unless a stale copy may answer instead.
            let relay = status >= 500 ? try? await RelayedAnswer.read(response, reason: nil) : nil
            return unanswered(failure, relay: relay)
        case .relay(let reason):
            counters.originSucceeded()
            if let stale {
                // The object is gone, or no longer storable: the stored copy goes.
                counters.revalidated(.gone)
                store.drop(key: key, version: stale)
                forget(key, version: stale)
            }
            do {
                return resolve(.relay(try await RelayedAnswer.read(response, reason: reason)))
            } catch {
                return unanswered(OriginClient.failure(error))
            }
        case .object(let object, let from):
            counters.originSucceeded()
            meta = ObjectMetadata(key: key, object: object, blockSize: blockSize)
            bodyStart = from
        }
        if let stale {
            // Without a validator the origin's answer cannot be told from the stored one: it replaces it.
            if stale.sameContent(as: meta), meta.etag != nil || meta.lastModified != nil {
                // An origin that ignores conditionals answered the same version: its fields and freshness are kept.
                counters.revalidated(.notModified)
                store.refresh(meta)
            } else {
                counters.revalidated(.changed)
                store.drop(key: key, version: stale)
            }
        }
        // The version this answer describes is the one filled from now on; fills of another go on for their readers.
        let fill: BlockFill? = inflight.withLock { table in
            var entry = table[key] ?? Inflight()
            if entry.meta.map({ !$0.sameContent(as: meta) }) ?? true {
                entry.meta = meta
                entry.fills = [:]
            } else {
                entry.meta = meta
            }
            var fill: BlockFill?
            if block < meta.blockCount, entry.fills[block] == nil,
                !store.contains(key: key, block: block, version: meta)
            {
                fill = BlockFill(index: block)
                entry.fills[block] = fill
            }
            table[key] = entry
            return fill
        }
        resolve(.object(meta, stale: false))
        guard let fill else { return }
        await feed(request, response: response, meta: meta, fills: [fill][...], bodyStart: bodyStart)
    }

    /// Fetches a contiguous run of blocks of a known object with one range request and feeds, stores and completes
    /// each fill in turn.
    private func fill(_ request: CacheRequest, address: IPAddress?, known: ObjectMetadata, fills: ArraySlice<BlockFill>)
        async
    {
        let key = request.cacheKey
        let start = Int64(fills.first!.index) * Int64(blockSize)
        let end = min(Int64(fills.last!.index + 1) * Int64(blockSize) - 1, known.length - 1)
        func fail(_ failure: OriginFailure) {
            failed(failure, host: request.host)
            // Forgotten before the readers wake, so a reader that asks again starts a new fetch.
            release(key: key, fills: Array(fills), probe: nil)
            for fill in fills { fill.fail(failure) }
        }
        let response: HTTPClientResponse
        do {
            response = try await origin.send(
                request,
                address: address,
                headers: [("Range", "bytes=\(start)-\(end)"), ("User-Agent", EngineInfo.userAgent)]
            )
        } catch {
            return fail(error)
        }
        let verdict = OriginVerdict.classify(
            status: Int(response.status.code),
            headers: response.headers,
            key: key,
            blockSize: blockSize,
            requestedStart: start,
            known: known
        )
        switch verdict {
        case .failure(let failure):
            if failure == .changed {
                store.drop(key: key, version: known)
                forget(key, version: known)
            }
            fail(failure)
        case .uncacheable(let reason):
            counters.originSucceeded()
            release(key: key, fills: Array(fills), probe: nil)
            for fill in fills { fill.fail(.invalidResponse(reason.description)) }
        case .cacheable(_, let bodyStart):
            counters.originSucceeded()
            await feed(request, response: response, meta: known, fills: fills, bodyStart: bodyStart)
        }
    }

    /// The version `version` of the object is gone: fills of it are no longer offered to new readers.
    private func forget(_ key: String, version: ObjectMetadata) {
        inflight.withLock { table in
            guard let meta = table[key]?.meta, meta.sameContent(as: version) else { return }
            table[key]?.meta = nil
            table[key]?.fills = [:]
            if table[key]?.isIdle == true { table[key] = nil }
        }
    }

    /// Feeds a response body to a run of fills in order, storing and completing each as it is whole.
    private func feed(
        _ request: CacheRequest,
        response: HTTPClientResponse,
        meta: ObjectMetadata,
        fills: ArraySlice<BlockFill>,
        bodyStart: Int64
    ) async {
        let key = request.cacheKey
        var pending = fills
        // The run may reach past the object's end (a probe's block of a short object).
        while let lastFill = pending.last, lastFill.index >= meta.blockCount {
            release(key: key, fills: [lastFill], probe: nil)
            lastFill.fail(.invalidResponse("beyond the end of the object"))
            pending = pending.dropLast()
        }
        guard !pending.isEmpty else { return }
        func fail(_ failure: OriginFailure) {
            failed(failure, host: request.host)
            release(key: key, fills: Array(pending), probe: nil)
            for fill in pending { fill.fail(failure) }
        }
        // A response that ignored Range starts before the run: its first bytes are skipped.
        let run = pending.first!.index...pending.last!.index
        var placement = BodyPlacement(layout: meta.layout, blocks: run, bodyStart: bodyStart)
        await withTaskGroup(of: Void.self) { stores in
            var storing = 0
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
                            guard completes else { break }
                            pending = pending.dropFirst()
                            // Stored beside the reading, so a block's fsync does not leave the origin's answer
                            // unread (the origin read timeout counts from the last bytes read); a few at once at
                            // most, so a drive slower than the origin still holds the reading back.
                            if storing == Self.storesPerFetch, await stores.next() != nil { storing -= 1 }
                            storing += 1
                            stores.addTask { await self.store(fill, of: meta) }
                        case .done:
                            break reading
                        }
                    }
                    if pending.isEmpty { break }
                }
            } catch {
                return fail(OriginClient.failure(error))
            }
            if !pending.isEmpty { fail(.shortBody) }
        }
    }

    /// Blocks of one fetch being stored at once, while its answer is read on.
    static let storesPerFetch = 2

    /// Stores a whole fill, then lets its readers go on from disk (or from memory when it could not be stored).
    private func store(_ fill: BlockFill, of meta: ObjectMetadata) async {
        let stored = await storeBlock(meta, fill: fill)
        release(key: meta.key, fills: [fill], probe: nil)
        fill.complete(stored: stored)
    }

    private func storeBlock(_ meta: ObjectMetadata, fill: BlockFill) async -> Bool {
        let chunks = fill.chunks
        let store = self.store
        return (try? await disk.runIfActive { store.store(meta, block: fill.index, chunks: chunks) })
            ?? false
    }

    /// Forgets finished fills (after they were stored) and a resolved probe.
    private func release(key: String, fills: [BlockFill], probe: MetadataProbe?) {
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

/// One origin request for `ContentCache.run()`.
struct FetchJob: Sendable {
    enum Work: Sendable {
        /// The first answer for an object not yet known at `block`, or the revalidation of a `stale` stored one.
        case probe(MetadataProbe, block: Int, stale: ObjectMetadata?)
        /// A contiguous run of blocks of a known object.
        case fill(known: ObjectMetadata, ArraySlice<BlockFill>)
    }

    var request: CacheRequest
    var address: IPAddress?
    var work: Work
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
