import CacheProtocol
import AsyncHTTPClient
import CacheNodeCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Serves the Delivery Optimization cache-host protocol: checks, lookups, ranges and streaming from disk or fills.
final class CacheResponder: HTTPResponder {
    static let maximumTargetBytes = 8 * 1024
    static let maximumHeaderBytes = 32 * 1024

    let cache: ContentCache
    let policy: @Sendable () -> OriginPolicy
    let resolver: any HostResolver
    let counters: EngineCounters
    let accessLog: AccessLog
    let logger: Logger

    init(
        cache: ContentCache,
        policy: @escaping @Sendable () -> OriginPolicy,
        resolver: any HostResolver,
        counters: EngineCounters,
        accessLog: AccessLog,
        logger: Logger
    ) {
        self.cache = cache
        self.policy = policy
        self.resolver = resolver
        self.counters = counters
        self.accessLog = accessLog
        self.logger = logger
    }

    /// What one response did, for the access log and counters.
    struct Record {
        var status = 0
        var outcome = EngineCounters.Outcome.none
        var originStatus: String?
        var cacheBytes: Int64 = 0
        /// The object's cache key, once the request named one.
        var object: String?
    }

    func respond(to head: HTTPRequestHead, client: String, writer: ResponseWriter) async -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        var record = Record()
        var keepAlive = head.isKeepAlive
        writer.suppressBody = head.method == .HEAD
        let completed = await handle(head, writer: writer, record: &record)
        if !completed { keepAlive = false }
        counters.request(record.outcome, status: record.status, cacheBytes: record.cacheBytes, totalBytes: writer.bodyBytes)
        if let object = record.object { counters.objects.add(object, bytes: writer.bodyBytes, cacheBytes: record.cacheBytes) }
        accessLog.write(
            AccessLog.Entry(
                client: client,
                method: head.method.rawValue,
                target: String(head.uri.prefix(512)),
                range: head.headers.first(name: "range"),
                status: record.status,
                bytes: writer.bodyBytes,
                outcome: record.outcome,
                milliseconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6,
                originStatus: record.originStatus
            )
        )
        return keepAlive
    }

    /// Returns false when the response was cut short (the connection must close).
    private func handle(_ head: HTTPRequestHead, writer: ResponseWriter, record: inout Record) async -> Bool {
        if let refusal = head.judged.refusal {
            let extra = refusal.status == 405 ? [("Allow", "GET, HEAD")] : []
            let status = HTTPResponseStatus(statusCode: refusal.status)
            let answered = await simple(writer, record: &record, status: status, refusal.reason, extra: extra)
            return answered && !refusal.closesConnection
        }
        if head.uri.utf8.count > Self.maximumTargetBytes {
            return await simple(writer, record: &record, status: .uriTooLong, "the request target is longer than \(Self.maximumTargetBytes) bytes")
        }
        if head.headers.reduce(0, { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }) > Self.maximumHeaderBytes {
            return await simple(writer, record: &record, status: .requestHeaderFieldsTooLarge, "the request headers are larger than \(Self.maximumHeaderBytes) bytes")
        }
        let request: CacheRequest
        do {
            request = try CacheRequest.parse(target: head.uri, hostHeader: head.headers.first(name: "host"))
        } catch {
            return await simple(writer, record: &record, status: .badRequest, error.description)
        }
        let policy = policy()
        if case .refuse(let reason) = policy.check(request) {
            return await simple(writer, record: &record, status: .forbidden, reason)
        }
        var address: IPAddress?
        if !cache.origin.usesProxy {
            let addresses: [IPAddress]
            switch await resolver.resolve(request.host, port: request.effectivePort) {
            case .success(let resolved):
                addresses = resolved
            case .failure(let failure):
                // A name that does not resolve is the network's problem, not the client's: 502, and Windows falls
                // back to the CDN at once. It counts as a failed origin fetch: the node cannot reach its origins.
                counters.originError(failure)
                record.originStatus = originStatus(failure)
                return await simple(writer, record: &record, status: .badGateway, failure.description)
            }
            if case .refuse(let reason) = policy.check(request, resolved: addresses) {
                return await simple(writer, record: &record, status: .forbidden, reason)
            }
            address = addresses.first
        }
        let range = head.headers.first(name: "range").flatMap(RangeHeader.init)
        record.object = request.cacheKey
        var known = cache.store.metadata(for: request.cacheKey) != nil
        var lookup = await cache.lookup(request, address: address, start: range?.knownStart)
        for attempt in 1...2 {
            switch lookup {
            case .failed(let failure):
                record.originStatus = originStatus(failure)
                return await simple(writer, record: &record, status: HTTPResponseStatus(statusCode: failure.clientStatus), failure.description)
            case .uncacheable(let reason):
                if case .encoded(let coding) = reason, head.headers.contains(name: "range") {
                    // Encoded bytes are not the object's: a range of them would be spliced into the client's file.
                    let failure = OriginFailure(.encodedRange(coding))
                    counters.originError(failure)
                    record.originStatus = "invalid"
                    return await simple(writer, record: &record, status: .badGateway, failure.description)
                }
                return await passThrough(head, request: request, address: address, writer: writer, record: &record)
            case .object(let meta):
                let served = await serve(
                    head, request: request, address: address, meta: meta, known: known, writer: writer, record: &record,
                    mayLookAgain: attempt == 1
                )
                guard case .objectChanged = served else { return served == .keepAlive }
                // The origin's copy changed (ETag or length) before a byte was sent: the stored copy is dropped,
                // and the new one is served instead of a 502.
                known = false
                lookup = await cache.lookup(request, address: address, start: range?.knownStart)
            }
        }
        return false
    }

    private func originStatus(_ failure: OriginFailure) -> String {
        switch failure {
        case .status(let code): "\(code)"
        case .timeout: "timeout"
        case .unreachable, .unresolvable: "unreachable"
        case .shortBody: "short"
        case .changed: "changed"
        case .invalidResponse: "invalid"
        case .proxyAuthentication: "407"
        }
    }

    private func serve(
        _ head: HTTPRequestHead,
        request: CacheRequest,
        address: IPAddress?,
        meta: ObjectMetadata,
        known: Bool,
        writer: ResponseWriter,
        record: inout Record,
        mayLookAgain: Bool
    ) async -> Served {
        let response = ObjectResponse(
            object: meta.object,
            range: head.headers.first(name: "range"),
            conditional: ConditionalRequest(
                ifNoneMatch: head.headers.first(name: "if-none-match"),
                ifModifiedSince: head.headers.first(name: "if-modified-since"),
                ifRange: head.headers.first(name: "if-range")
            )
        )
        let status = HTTPResponseStatus(statusCode: response.status)
        if response.status == 416 {
            let reason = "the range is outside the object (\(meta.length) bytes)"
            return Served(await simple(writer, record: &record, status: status, reason, extra: response.headers.map { ($0.name, $0.value) }))
        }
        let headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        let responseHead = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
        record.status = response.status
        guard let span = response.span, head.method == .GET else {
            record.outcome = .hit
            writer.head(responseHead)
            return Served((try? await writer.end()) != nil)
        }
        let pieces = meta.layout.pieces(of: span)
        let blocks = pieces[0].block...pieces[pieces.count - 1].block
        // An object unknown when the request arrived had no block stored, whatever its probe stored since.
        let stored = known ? blocks.filter { cache.store.contains(key: meta.key, block: $0) }.count : 0
        record.outcome = stored == blocks.count ? .hit : (stored == 0 ? .miss : .partial)
        if stored < blocks.count {
            record.originStatus = "206"
            cache.prefetch(request, address: address, meta: meta, blocks: blocks)
        }
        cache.readAhead(request, address: address, meta: meta, blocks: blocks)
        for piece in pieces {
            let block = piece.block
            let until = piece.bytes.upperBound
            var sent = piece.bytes.lowerBound
            var source = cache.source(request, address: address, meta: meta, block: block)
            // A fill that fails after the response started is asked for once more (a new origin request for the
            // block; the client goes on from where it was) before the response is cut.
            var retried = false
            do {
                reading: while sent < until {
                    switch source {
                    case .disk(let opened):
                        if !writer.headSent { writer.head(responseHead) }
                        try await writer.file(opened.handle, offset: sent, length: until - sent)
                        record.cacheBytes += Int64(until - sent)
                        counters.served(until - sent, fromCache: true)
                        sent = until
                    case .fill(let fill):
                        writer.flush()
                        switch await fill.next(from: sent) {
                        case .bytes(var bytes):
                            if bytes.readableBytes > until - sent { bytes = bytes.getSlice(at: bytes.readerIndex, length: until - sent)! }
                            if !writer.headSent { writer.head(responseHead) }
                            let count = bytes.readableBytes
                            try await writer.body(bytes)
                            counters.served(count, fromCache: false)
                            sent += count
                        case .stored, .end:
                            source = cache.source(request, address: address, meta: meta, block: block)
                            if case .fill(let again) = source, again === fill { break reading }
                        case .failed(let failure):
                            if writer.headSent, !retried, failure.isWorthRetrying {
                                // The failed fill's part is asked for again from this block on, in parts as before.
                                retried = true
                                cache.prefetch(request, address: address, meta: meta, blocks: block...blocks.upperBound)
                                source = cache.source(request, address: address, meta: meta, block: block)
                                continue reading
                            }
                            record.originStatus = originStatus(failure)
                            if !writer.headSent {
                                if failure == .changed && mayLookAgain { return .objectChanged }
                                return Served(await simple(writer, record: &record, status: HTTPResponseStatus(statusCode: failure.clientStatus), failure.description))
                            }
                            logger.warning("origin failed after the response started; closing the connection", metadata: ["origin.host": "\(request.host)", "origin.failure": "\(failure)"])
                            await writer.abort()
                            return .close
                        }
                    }
                }
            } catch {
                await writer.abort()
                return .close
            }
            if sent < until {
                await writer.abort()
                return .close
            }
        }
        do {
            try await writer.end()
        } catch {
            return .close
        }
        return .keepAlive
    }

    /// How `serve` ended: the connection may stay open, must close, or nothing was sent because the object changed
    /// on the origin (the caller looks it up again).
    private enum Served: Equatable {
        case keepAlive
        case close
        case objectChanged

        init(_ keepAlive: Bool) {
            self = keepAlive ? .keepAlive : .close
        }
    }

    /// Relays an uncacheable answer (3xx, 4xx, `no-store`, `private`, `Vary`, a content coding) with the client's own
    /// range and its `Content-Encoding` and `Vary`; nothing is stored, and encoded bytes never answer a range.
    private func passThrough(
        _ head: HTTPRequestHead,
        request: CacheRequest,
        address: IPAddress?,
        writer: ResponseWriter,
        record: inout Record
    ) async -> Bool {
        var forwarded: [(String, String)] = [("User-Agent", EngineInfo.userAgent)]
        for name in ["range", "if-range", "if-none-match", "if-modified-since"] {
            if let value = head.headers.first(name: name) { forwarded.append((name, value)) }
        }
        record.outcome = .miss
        let response: HTTPClientResponse
        do {
            response = try await cache.origin.send(request, address: address, method: head.method, headers: forwarded)
        } catch {
            counters.originError(error)
            record.originStatus = originStatus(error)
            return await simple(writer, record: &record, status: HTTPResponseStatus(statusCode: error.clientStatus), error.description)
        }
        record.originStatus = "\(response.status.code)"
        if let refusal = OriginAnswer.relayRefusal(
            status: Int(response.status.code),
            headers: response.headers.fields,
            ranged: head.headers.contains(name: "range")
        ) {
            let failure = OriginFailure(refusal)
            counters.originError(failure)
            return await simple(writer, record: &record, status: .badGateway, failure.description)
        }
        counters.originSucceeded()
        var headers = HTTPHeaders()
        for name in [
            "content-type", "content-length", "content-range", "content-encoding", "vary", "etag", "last-modified", "location",
            "cache-control", "accept-ranges", "expires",
        ] {
            for value in response.headers[name] { headers.add(name: name, value: value) }
        }
        // Without Content-Length (chunked or read to the close) the body is relayed chunked: a `Content-Length: 0` here
        // would leave the origin's bytes on the connection to be read as the next response.
        record.status = Int(response.status.code)
        writer.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))
        do {
            if head.method != .HEAD {
                for try await chunk in response.body {
                    counters.addFromOrigin(chunk.readableBytes)
                    counters.served(chunk.readableBytes, fromCache: false)
                    try await writer.body(chunk)
                }
            }
            try await writer.end()
        } catch {
            await writer.abort()
            return false
        }
        return true
    }

    /// A short text response: errors, refusals, 405, 416.
    private func simple(
        _ writer: ResponseWriter,
        record: inout Record,
        status: HTTPResponseStatus,
        _ message: String,
        extra: [(String, String)] = []
    ) async -> Bool {
        record.status = Int(status.code)
        var body = ByteBuffer(string: message + "\n")
        var headers = HTTPHeaders(extra.filter { $0.0.lowercased() != "content-length" && $0.0.lowercased() != "content-type" })
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        headers.add(name: "Cache-Control", value: "no-store")
        writer.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))
        do {
            try await writer.body(body.readSlice(length: body.readableBytes)!)
            try await writer.end()
        } catch {
            return false
        }
        return true
    }
}
