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
        /// Body bytes sent.
        var bytes: Int64 = 0
        /// The object's cache key, once the request named one.
        var object: String?
    }

    /// A request answered before the cache is asked: a status, its reason in words, and whether the connection closes.
    struct Refusal {
        var status: HTTPResponseStatus
        var reason: String
        var extra: [(String, String)] = []
        var closesConnection = false

        init(
            _ status: HTTPResponseStatus,
            _ reason: String,
            extra: [(String, String)] = [],
            closesConnection: Bool = false
        ) {
            self.status = status
            self.reason = reason
            self.extra = extra
            self.closesConnection = closesConnection
        }

        init(_ failure: OriginFailure) {
            self.init(HTTPResponseStatus(statusCode: failure.clientStatus), failure.description)
        }
    }

    func respond(to head: HTTPRequestHead, client: String, writer: consuming ResponseWriter) async -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        var record = Record()
        writer.suppressBody = head.method == .HEAD
        let completed: Bool
        switch await route(head, record: &record) {
        case .refuse(let refusal):
            completed = await simple(writer, record: &record, refusal) && !refusal.closesConnection
        case .fetch(let request, let address):
            completed = await answer(head, request: request, address: address, writer: writer, record: &record)
        }
        counters.request(record.outcome, status: record.status, cacheBytes: record.cacheBytes, totalBytes: record.bytes)
        if let object = record.object {
            counters.objects.add(object, bytes: record.bytes, cacheBytes: record.cacheBytes)
        }
        accessLog.write(
            AccessLog.Entry(
                client: client,
                method: head.method.rawValue,
                target: String(head.uri.prefix(512)),
                range: head.headers.first(name: "range"),
                status: record.status,
                bytes: record.bytes,
                outcome: record.outcome,
                milliseconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6,
                originStatus: record.originStatus
            )
        )
        return completed && head.isKeepAlive
    }

    /// Where a request goes: refused (with why), or to the cache for an origin and its address.
    enum Route {
        case refuse(Refusal)
        case fetch(CacheRequest, address: IPAddress?)
    }

    /// The checks before the cache is asked: the request's form and size, the origin policy, the origin's address.
    func route(_ head: HTTPRequestHead, record: inout Record) async -> Route {
        if let refusal = head.judged.refusal {
            let extra = refusal.status == 405 ? [("Allow", "GET, HEAD")] : []
            return .refuse(
                Refusal(
                    HTTPResponseStatus(statusCode: refusal.status),
                    refusal.reason,
                    extra: extra,
                    closesConnection: refusal.closesConnection
                )
            )
        }
        if head.uri.utf8.count > Self.maximumTargetBytes {
            return .refuse(Refusal(.uriTooLong, "the request target is longer than \(Self.maximumTargetBytes) bytes"))
        }
        if head.headers.reduce(0, { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }) > Self.maximumHeaderBytes {
            return .refuse(
                Refusal(
                    .requestHeaderFieldsTooLarge,
                    "the request headers are larger than \(Self.maximumHeaderBytes) bytes"
                )
            )
        }
        let request: CacheRequest
        do {
            request = try CacheRequest.parse(target: head.uri, hostHeader: head.headers.first(name: "host"))
        } catch {
            return .refuse(Refusal(.badRequest, error.description))
        }
        let policy = policy()
        if case .refuse(let reason) = policy.check(request) { return .refuse(Refusal(.forbidden, reason)) }
        // Through an upstream proxy the proxy resolves names.
        guard !cache.origin.usesProxy else { return .fetch(request, address: nil) }
        switch await resolver.resolve(request.host, port: request.effectivePort) {
        case .success(let addresses):
            if case .refuse(let reason) = policy.check(request, resolved: addresses) {
                return .refuse(Refusal(.forbidden, reason))
            }
            return .fetch(request, address: addresses.first)
        case .failure(let failure):
            // A name that does not resolve is the network's problem, not the client's: 502, and Windows falls
            // back to the CDN at once. It counts as a failed origin fetch: the node cannot reach its origins.
            counters.originError(failure)
            record.originStatus = originStatus(failure)
            return .refuse(Refusal(.badGateway, failure.description))
        }
    }

    /// Asks the cache and answers from it: an object (from disk and fills), a relayed answer, or a failure.
    private func answer(
        _ head: HTTPRequestHead,
        request: CacheRequest,
        address: IPAddress?,
        writer: consuming ResponseWriter,
        record: inout Record
    ) async -> Bool {
        let range = head.headers.first(name: "range").flatMap(RangeHeader.init)
        record.object = request.cacheKey
        var known = cache.store.metadata(for: request.cacheKey) != nil
        var mayLookAgain = true
        var lookup = await cache.lookup(request, address: address, start: range?.knownStart)
        while true {
            switch lookup {
            case .failed(let failure):
                record.originStatus = originStatus(failure)
                return await simple(writer, record: &record, Refusal(failure))
            case .uncacheable(let reason):
                if case .encoded(let coding) = reason, head.headers.contains(name: "range") {
                    // Encoded bytes are not the object's: a range of them would be spliced into the client's file.
                    let failure = OriginFailure(.encodedRange(coding))
                    counters.originError(failure)
                    record.originStatus = "invalid"
                    return await simple(writer, record: &record, Refusal(.badGateway, failure.description))
                }
                return await passThrough(head, request: request, address: address, writer: writer, record: &record)
            case .object(let meta):
                let object = Object(request: request, address: address, meta: meta)
                switch await serve(
                    head,
                    object,
                    known: known,
                    writer: writer,
                    record: &record,
                    mayLookAgain: mayLookAgain
                ) {
                case .answered(let keepAlive):
                    return keepAlive
                case .objectChanged(let unused):
                    // The origin's copy changed (ETag or length) before a byte was sent: the stored copy is dropped,
                    // and the new one is served instead of a 502.
                    writer = unused
                    known = false
                    mayLookAgain = false
                    lookup = await cache.lookup(request, address: address, start: range?.knownStart)
                }
            }
        }
    }

    func originStatus(_ failure: OriginFailure) -> String {
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

    /// Relays an uncacheable answer (3xx, 4xx, `no-store`, `private`, `Vary`, a content coding) with the client's own
    /// range and its `Content-Encoding` and `Vary`; nothing is stored, and encoded bytes never answer a range.
    private func passThrough(
        _ head: HTTPRequestHead,
        request: CacheRequest,
        address: IPAddress?,
        writer: consuming ResponseWriter,
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
            return await simple(writer, record: &record, Refusal(error))
        }
        record.originStatus = "\(response.status.code)"
        if let refusal = OriginAnswer.relayRefusal(
            status: Int(response.status.code),
            headers: response.headers.fields,
            ranged: head.headers.contains(name: "range")
        ) {
            let failure = OriginFailure(refusal)
            counters.originError(failure)
            return await simple(writer, record: &record, Refusal(.badGateway, failure.description))
        }
        counters.originSucceeded()
        var headers = HTTPHeaders()
        for name in [
            "content-type", "content-length", "content-range", "content-encoding", "vary", "etag", "last-modified",
            "location",
            "cache-control", "accept-ranges", "expires",
        ] {
            for value in response.headers[name] { headers.add(name: name, value: value) }
        }
        // Without Content-Length (chunked or read to the close) the body is relayed chunked: a `Content-Length: 0` here
        // would leave the origin's bytes on the connection to be read as the next response.
        record.status = Int(response.status.code)
        var body = writer.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))
        do {
            if head.method != .HEAD {
                for try await chunk in response.body {
                    counters.addFromOrigin(chunk.readableBytes)
                    counters.served(chunk.readableBytes, fromCache: false)
                    try await body.write(chunk)
                }
            }
        } catch {
            record.bytes = await body.abort()
            return false
        }
        return await finish(body, record: &record)
    }

    /// A short text response: errors, refusals, 405, 416.
    func simple(_ writer: consuming ResponseWriter, record: inout Record, _ refusal: Refusal) async -> Bool {
        record.status = Int(refusal.status.code)
        var text = ByteBuffer(string: refusal.reason + "\n")
        let own = ["content-length", "content-type"]
        var headers = HTTPHeaders(refusal.extra.filter { !own.contains($0.0.lowercased()) })
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(text.readableBytes)")
        headers.add(name: "Cache-Control", value: "no-store")
        var body = writer.head(HTTPResponseHead(version: .http1_1, status: refusal.status, headers: headers))
        do {
            try await body.write(text.readSlice(length: text.readableBytes)!)
        } catch {
            record.bytes = await body.abort()
            return false
        }
        return await finish(body, record: &record)
    }

    /// Ends a response; false when the client went away before it ended.
    func finish(_ body: consuming ResponseBody, record: inout Record) async -> Bool {
        record.bytes = body.bytes
        do {
            _ = try await body.end()
            return true
        } catch {
            return false
        }
    }
}
