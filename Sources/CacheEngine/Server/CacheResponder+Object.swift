import CacheNodeCore
import CacheProtocol
import NIOCore
import NIOHTTP1

/// Serving a cacheable object: its range from stored blocks and fills, in small steps.
///
/// The head leaves with the first bytes: until they are there, a failed fill can still be answered with an error
/// status (or, when the origin's copy changed, by looking the object up again); after it, the only way to signal a
/// failure is to close the connection.
extension CacheResponder {
    /// The object a request is for, with where to fetch it.
    struct Object {
        var request: CacheRequest
        var address: IPAddress?
        var meta: ObjectMetadata
    }

    /// How serving ended: answered (whether the connection may stay open), or nothing was sent because the object
    /// changed on the origin, with the writer back for the caller to look it up again.
    enum Served: ~Copyable {
        case answered(keepAlive: Bool)
        case objectChanged(ResponseWriter)
    }

    /// The first piece's first bytes, waited for before the head is written.
    enum FirstBytes {
        case disk(BlockStore.OpenBlock)
        case fill(BlockFill, ByteBuffer)
        /// The block is whole in memory only and has nothing at the offset: the response can only be cut.
        case none
        case failed(OriginFailure)
    }

    func serve(
        _ head: HTTPRequestHead,
        _ object: Object,
        known: Bool,
        writer: consuming ResponseWriter,
        record: inout Record,
        mayLookAgain: Bool
    ) async -> Served {
        let response = ObjectResponse(
            object: object.meta.object,
            range: head.headers.first(name: "range"),
            conditional: ConditionalRequest(
                ifNoneMatch: head.headers.first(name: "if-none-match"),
                ifModifiedSince: head.headers.first(name: "if-modified-since"),
                ifRange: head.headers.first(name: "if-range")
            ),
            now: cache.now()
        )
        let status = HTTPResponseStatus(statusCode: response.status)
        if response.status == 416 {
            let extra = response.headers.map { ($0.name, $0.value) }
            let refusal = Refusal(status, "the range is outside the object (\(object.meta.length) bytes)", extra: extra)
            return .answered(keepAlive: await simple(writer, record: &record, refusal))
        }
        let responseHead = HTTPResponseHead(
            version: .http1_1,
            status: status,
            headers: HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        )
        record.status = response.status
        guard let span = response.span, head.method == .GET else {
            record.outcome = .hit
            return .answered(keepAlive: await finish(writer.head(responseHead), record: &record))
        }
        let pieces = object.meta.layout.pieces(of: span)
        let blocks = pieces[0].block...pieces[pieces.count - 1].block
        let stored = startFills(object, blocks: blocks, known: known, record: &record)
        switch await firstBytes(object, piece: pieces[0]) {
        case .failed(let failure):
            record.originStatus = originStatus(failure)
            if failure == .changed && mayLookAgain { return .objectChanged(writer) }
            return .answered(keepAlive: await simple(writer, record: &record, Refusal(failure)))
        case .none:
            return .answered(keepAlive: false)
        case let first:
            var body = writer.head(responseHead)
            for (number, piece) in pieces.enumerated() {
                let sent = await send(
                    piece,
                    of: object,
                    blocks: blocks,
                    stored: stored,
                    startingWith: number == 0 ? first : nil,
                    body: &body,
                    record: &record
                )
                if !sent {
                    record.bytes = await body.abort()
                    return .answered(keepAlive: false)
                }
            }
            return .answered(keepAlive: await finish(body, record: &record))
        }
    }

    /// Which of a request's blocks were stored when it arrived. The others were fetched for it: their bytes count as
    /// from the origin even when their fill was stored before the client read them.
    enum StoredBlocks {
        case all
        case nothing
        case only(Set<Int>)

        func contains(_ block: Int) -> Bool {
            switch self {
            case .all: true
            case .nothing: false
            case .only(let blocks): blocks.contains(block)
            }
        }
    }

    /// Counts the request as a hit, miss or partial, and starts the fills its missing blocks need (and read-ahead).
    private func startFills(_ object: Object, blocks: ClosedRange<Int>, known: Bool, record: inout Record)
        -> StoredBlocks
    {
        // An object unknown when the request arrived had no block stored, whatever its probe stored since.
        let present = known ? blocks.filter { cache.store.contains(key: object.meta.key, block: $0) } : []
        let stored: StoredBlocks
        if present.count == blocks.count {
            record.outcome = .hit
            stored = .all
        } else {
            record.outcome = present.isEmpty ? .miss : .partial
            stored = present.isEmpty ? .nothing : .only(Set(present))
            record.originStatus = "206"
            cache.prefetch(object.request, address: object.address, meta: object.meta, blocks: blocks)
        }
        cache.readAhead(object.request, address: object.address, meta: object.meta, blocks: blocks)
        return stored
    }

    /// Waits for the first piece's first bytes: on disk, or the first bytes its fill has.
    private func firstBytes(_ object: Object, piece: BlockLayout.Piece) async -> FirstBytes {
        var source = cache.source(object.request, address: object.address, meta: object.meta, block: piece.block)
        while true {
            switch source {
            case .disk(let opened):
                return .disk(opened)
            case .fill(let fill):
                switch await fill.next(from: piece.bytes.lowerBound) {
                case .bytes(let bytes):
                    return .fill(fill, bytes)
                case .stored, .end:
                    source = cache.source(
                        object.request,
                        address: object.address,
                        meta: object.meta,
                        block: piece.block
                    )
                    if case .fill(let again) = source, again === fill { return .none }
                case .failed(let failure):
                    return .failed(failure)
                }
            }
        }
    }

    /// Sends one piece (a block's part of the range) from disk or its fill; false when the response must be cut.
    ///
    /// A fill that fails after the response started is asked for once more (a new origin request for the block and
    /// the rest of the range; the client goes on from where it was) before the response is cut.
    private func send(
        _ piece: BlockLayout.Piece,
        of object: Object,
        blocks: ClosedRange<Int>,
        stored: StoredBlocks,
        startingWith first: FirstBytes?,
        body: inout ResponseBody,
        record: inout Record
    ) async -> Bool {
        let block = piece.block
        let until = piece.bytes.upperBound
        var sent = piece.bytes.lowerBound
        var source: BlockSource
        var pending: ByteBuffer?
        switch first {
        case .disk(let opened)?: source = .disk(opened)
        case .fill(let fill, let bytes)?:
            source = .fill(fill)
            pending = bytes
        case .none?, .failed?, nil:
            source = cache.source(object.request, address: object.address, meta: object.meta, block: block)
        }
        var retried = false
        do {
            while sent < until {
                switch source {
                case .disk(let opened):
                    try await body.write(file: opened.handle, offset: sent, length: until - sent)
                    let cached = stored.contains(block)
                    if cached { record.cacheBytes += Int64(until - sent) }
                    counters.served(until - sent, fromCache: cached)
                    sent = until
                case .fill(let fill):
                    let next: BlockFill.Next
                    if let bytes = pending {
                        next = .bytes(bytes)
                        pending = nil
                    } else {
                        body.flush()
                        next = await fill.next(from: sent)
                    }
                    switch next {
                    case .bytes(var bytes):
                        if bytes.readableBytes > until - sent {
                            bytes = bytes.getSlice(at: bytes.readerIndex, length: until - sent)!
                        }
                        let count = bytes.readableBytes
                        try await body.write(bytes)
                        counters.served(count, fromCache: false)
                        sent += count
                    case .stored, .end:
                        source = cache.source(object.request, address: object.address, meta: object.meta, block: block)
                        if case .fill(let again) = source, again === fill { return false }
                    case .failed(let failure) where !retried && failure.isWorthRetrying:
                        // The failed fill's part is asked for again from this block on, in parts as before.
                        retried = true
                        cache.prefetch(
                            object.request,
                            address: object.address,
                            meta: object.meta,
                            blocks: block...blocks.upperBound
                        )
                        source = cache.source(object.request, address: object.address, meta: object.meta, block: block)
                    case .failed(let failure):
                        record.originStatus = originStatus(failure)
                        logger.warning(
                            "origin failed after the response started; closing the connection",
                            metadata: ["origin.host": "\(object.request.host)", "origin.failure": "\(failure)"]
                        )
                        return false
                    }
                }
            }
        } catch {
            return false
        }
        return true
    }
}
