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
        /// How the request arrived. A request that arrived over TLS must never be fetched over plain HTTP: the origin
        /// choice (`route`) reads it here.
        var scheme = RequestScheme.http
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

    func respond(
        to head: HTTPRequestHead,
        client: String,
        scheme: RequestScheme,
        writer: consuming ResponseWriter
    ) async -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        var record = Record(scheme: scheme)
        writer.suppressBody = head.method == .HEAD
        let completed: Bool
        switch await route(head, record: &record) {
        case .refuse(let refusal):
            completed = await simple(writer, record: &record, refusal) && !refusal.closesConnection
        case .fetch(let request, let address):
            completed = await answer(head, request: request, address: address, writer: writer, record: &record)
        }
        counters.request(
            record.outcome,
            status: record.status,
            scheme: scheme,
            cacheBytes: record.cacheBytes,
            totalBytes: record.bytes
        )
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
                originStatus: record.originStatus,
                scheme: scheme
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
            request = try CacheRequest.parse(
                target: head.uri,
                hostHeader: head.headers.first(name: "host"),
                arrivedOverTLS: record.scheme == .https
            )
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
            case .relay(let answer):
                return await relay(answer, head, request: request, address: address, writer: writer, record: &record)
            case .object(let meta, let stale):
                if stale {
                    counters.servedStale()
                    record.originStatus = "stale"
                }
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

    /// Answers with the origin's answer to the cache's own request, as it is: its status, fields and body. A 206 for
    /// the block the cache asked is cut to the client's range, or is the whole object for a client that asked for all
    /// of it; when it is neither (a range past that block), or another client took a body that streams, the client's
    /// own request goes to the origin (`passThrough`).
    private func relay(
        _ answer: RelayedAnswer,
        _ head: HTTPRequestHead,
        request: CacheRequest,
        address: IPAddress?,
        writer: consuming ResponseWriter,
        record: inout Record
    ) async -> Bool {
        record.outcome = .miss
        record.originStatus = "\(answer.status)"
        let clientRange = head.headers.first(name: "range")
        // A 416 answered the cache's block range, not the client's.
        if answer.status == 416 {
            return await passThrough(head, request: request, address: address, writer: writer, record: &record)
        }
        if clientRange != nil, let coding = answer.contentCoding {
            // Encoded bytes are not the object's: a range of them would be spliced into the client's file.
            let failure = OriginFailure(.encodedRange(coding))
            counters.originError(failure)
            record.originStatus = "invalid"
            return await simple(writer, record: &record, Refusal(.badGateway, failure.description))
        }
        var status = answer.status
        var fields = answer.headers
        var window: ClosedRange<Int64>?
        if status == 206 {
            guard let covered = answer.contentRange else {
                return await passThrough(head, request: request, address: address, writer: writer, record: &record)
            }
            let wanted: ClosedRange<Int64>?
            switch clientRange.flatMap(RangeHeader.init)?.resolve(length: covered.total) {
            case nil, .full?: wanted = nil
            case .partial(let part)?: wanted = part
            case .unsatisfiable?:
                return await passThrough(head, request: request, address: address, writer: writer, record: &record)
            }
            fields.removeAll { $0.name.lowercased() == "content-range" }
            if let wanted, wanted.lowerBound >= covered.start, wanted.upperBound <= covered.end {
                window = (wanted.lowerBound - covered.start)...(wanted.upperBound - covered.start)
                fields.append(
                    HeaderField("Content-Range", "bytes \(wanted.lowerBound)-\(wanted.upperBound)/\(covered.total)")
                )
            } else if wanted == nil, covered.start == 0, covered.end == covered.total - 1 {
                status = 200
            } else {
                return await passThrough(head, request: request, address: address, writer: writer, record: &record)
            }
        }
        guard let body = answer.takeBody() else {
            return await passThrough(head, request: request, address: address, writer: writer, record: &record)
        }
        var headers = HTTPHeaders(fields.map { ($0.name, $0.value) })
        switch body {
        case .whole(let bytes):
            let length = window.map { $0.upperBound - $0.lowerBound + 1 } ?? Int64(bytes.readableBytes)
            headers.add(name: "Content-Length", value: "\(length)")
        case .stream:
            if let window { headers.add(name: "Content-Length", value: "\(window.upperBound - window.lowerBound + 1)") }
        }
        record.status = status
        var sink = writer.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))
        guard head.method != .HEAD else { return await finish(sink, record: &record) }
        do {
            var position: Int64 = 0
            func send(_ chunk: ByteBuffer, into sink: inout ResponseBody) async throws {
                var chunk = chunk
                defer { position += Int64(chunk.readableBytes) }
                if let window {
                    let from = max(window.lowerBound, position)
                    let to = min(window.upperBound + 1, position + Int64(chunk.readableBytes))
                    guard from < to else { return }
                    chunk = chunk.getSlice(at: chunk.readerIndex + Int(from - position), length: Int(to - from))!
                }
                counters.served(chunk.readableBytes, fromCache: false)
                try await sink.write(chunk)
            }
            switch body {
            case .whole(let bytes):
                try await send(bytes, into: &sink)
            case .stream(let stream):
                for try await chunk in stream {
                    counters.addFromOrigin(chunk.readableBytes)
                    try await send(chunk, into: &sink)
                    if let window, position > window.upperBound { break }
                }
            }
        } catch {
            record.bytes = await sink.abort()
            return false
        }
        return await finish(sink, record: &record)
    }

    /// Relays the answer to the client's own request, for a relayed answer the client cannot have from the cache's
    /// request; nothing is stored, and encoded bytes never answer a range.
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
        if response.status.code >= 500 {
            counters.originError(.status(Int(response.status.code)))
        } else {
            counters.originSucceeded()
        }
        var headers = HTTPHeaders(ResponseFields.relayed(response.headers.fields).map { ($0.name, $0.value) })
        // Without Content-Length (chunked or read to the close) the body is relayed chunked: a `Content-Length: 0` here
        // would leave the origin's bytes on the connection to be read as the next response.
        if let length = response.headers.first(name: "content-length") {
            headers.add(name: "Content-Length", value: length)
        }
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
