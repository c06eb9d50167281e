import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real HTTP origin on 127.0.0.1:0 for tests: deterministic objects, ranges, request counts and injected faults.
/// It also answers requests sent to it as to a forward proxy (absolute-form targets, `GET http://host/path`), serving
/// the path from its own objects and recording the form, the `Proxy-Authorization` header and refusing `CONNECT`.
package final class TestOrigin: Sendable {
    /// One object the origin serves.
    package struct Object: Sendable {
        package var bytes: [UInt8]
        package var etag: String
        package var lastModified: String
        package var contentType: String

        package init(
            bytes: [UInt8],
            etag: String,
            lastModified: String = "Wed, 21 Oct 2015 07:28:00 GMT",
            contentType: String = "application/octet-stream"
        ) {
            self.bytes = bytes
            self.etag = etag
            self.lastModified = lastModified
            self.contentType = contentType
        }
    }

    /// A misbehaviour injected for one path.
    package enum Fault: Sendable, Equatable {
        /// Close the connection without answering.
        case refuse
        /// Send the head and this many body bytes, then reset the connection.
        case resetAfter(Int)
        /// Declare the full length, send this many bytes, then close.
        case shortBody(Int)
        /// Answer with this status (500, 503, 404...).
        case status(Int)
        /// Never answer.
        case hang
        /// Answer with another ETag than the object's.
        case changedETag
        /// Answer 200 with the whole object whatever the Range.
        case ignoreRange
        /// Answer 302 to this location.
        case redirect(String)
        /// Answer normally with `Cache-Control: no-store`.
        case noStore
        /// Answer normally after this many milliseconds.
        case delay(Int)
        /// Answer normally, pausing this many milliseconds between 64 KiB chunks.
        case slow(Int)
        /// Answer the first request of a connection; close the connection when a later one arrives, as a server
        /// does whose keep-alive timeout ends just as the client reuses the connection.
        case dropReusedConnection
        /// Answer with `TestOrigin.encoded(_:)` of the object labelled `Content-Encoding: <value>` (the object itself
        /// for `identity`), whatever the request's `Accept-Encoding`, with ranges (and `Content-Range`) of the encoded
        /// bytes, as a misconfigured origin or CDN does.
        case contentEncoding(String)
        /// Answer the whole encoded object with `Transfer-Encoding: <value>, chunked`, then close.
        case transferEncoding(String)
        /// Answer normally with `Vary: <value>`.
        case vary(String)
        /// Answer the whole object (whatever the Range) with neither Content-Length nor chunked encoding: the body
        /// ends where the origin closes the connection, as HTTP/1.0 servers do.
        case closeDelimited
    }

    struct State {
        var objects: [String: Object] = [:]
        var faults: [String: Fault] = [:]
        var requests: [String: Int] = [:]
        var ranges: [String: [String?]] = [:]
        var bytesSent = 0
        var hostHeaders: [String] = []
        var acceptEncodings: [String?] = []
        var absoluteTargets: [String] = []
        var proxyAuthorizations: [String?] = []
        var connects = 0
        var connections = 0
        var requiredProxyAuthorization: String?
        /// Faults for the next requests of a path whose `Range` starts at a given offset: (start, fault, times left).
        var rangeFaults: [String: [(start: Int, fault: Fault, remaining: Int)]] = [:]
        /// Paced (`.slow`) responses being sent now, and the most at once.
        var pacedNow = 0
        var pacedMost = 0
    }

    private let state = Mutex(State())
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    package let port: Int

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel.withLock { $0 = channel }
    }

    /// Starts an origin on 127.0.0.1 with an ephemeral port.
    package static func start() async throws -> TestOrigin {
        let box = OriginBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OriginHandler(origin: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let origin = TestOrigin(port: channel.localAddress!.port!, channel: channel)
        box.origin.withLock { $0 = origin }
        return origin
    }

    package func stop() async {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
    }

    /// `127.0.0.1:PORT`, the value for `cacheHostOrigin`.
    package var authority: String { "127.0.0.1:\(port)" }

    /// Adds an object of deterministic bytes at `path` and returns them.
    @discardableResult
    package func add(
        _ path: String,
        length: Int,
        seed: UInt8 = 1,
        etag: String? = nil,
        contentType: String = "application/octet-stream"
    ) -> [UInt8] {
        let bytes = Self.bytes(length: length, seed: seed)
        state.withLock {
            $0.objects[path] = Object(bytes: bytes, etag: etag ?? "\"\(seed)-\(length)\"", contentType: contentType)
        }
        return bytes
    }

    package func add(_ path: String, object: Object) {
        state.withLock { $0.objects[path] = object }
    }

    /// Sets the fault for every request of `path`; `nil` (the origin recovers) also clears its range faults.
    package func setFault(_ fault: Fault?, for path: String) {
        state.withLock { state in
            state.faults[path] = fault
            if fault == nil { state.rangeFaults[path] = nil }
        }
    }

    /// Applies `fault` to the next `times` requests for `path` whose `Range` starts at byte `start`, instead of the
    /// path's own fault: one part of a fill fails while the others are answered.
    package func setFault(_ fault: Fault, for path: String, rangeStartingAt start: Int, times: Int = 1) {
        state.withLock { $0.rangeFaults[path, default: []].append((start, fault, times)) }
    }

    /// The most `.slow` responses that were being sent at once: the connections a fill used side by side.
    package var mostPacedAtOnce: Int { state.withLock { $0.pacedMost } }

    func pacing(_ started: Bool) {
        state.withLock { state in
            state.pacedNow += started ? 1 : -1
            state.pacedMost = max(state.pacedMost, state.pacedNow)
        }
    }

    /// Requests received for `path` (without the query).
    package func requests(_ path: String) -> Int { state.withLock { $0.requests[path] ?? 0 } }

    /// The `Range` headers received for `path`, in order.
    package func ranges(_ path: String) -> [String?] { state.withLock { $0.ranges[path] ?? [] } }

    /// Body bytes sent over all requests.
    package var bytesSent: Int { state.withLock { $0.bytesSent } }

    /// The `Host` headers received, in order.
    package var hostHeaders: [String] { state.withLock { $0.hostHeaders } }

    /// The `Accept-Encoding` header of each request, in order (`nil` where there was none).
    package var acceptEncodings: [String?] { state.withLock { $0.acceptEncodings } }

    /// Targets received in absolute form (`http://host/path`), as a forward proxy receives them, in order.
    package var absoluteTargets: [String] { state.withLock { $0.absoluteTargets } }

    /// The `Proxy-Authorization` header of each request, in order (`nil` where there was none).
    package var proxyAuthorizations: [String?] { state.withLock { $0.proxyAuthorizations } }

    /// `CONNECT` requests received (each is refused with 403, as Squid refuses CONNECT to port 80).
    package var connects: Int { state.withLock { $0.connects } }

    /// Connections accepted so far.
    package var connections: Int { state.withLock { $0.connections } }

    /// Answers 407 to requests without this exact `Proxy-Authorization` value, as a proxy with basic auth does.
    package func requireProxyAuthorization(_ value: String?) {
        state.withLock { $0.requiredProxyAuthorization = value }
    }

    func proxyAuthorizationMissing(_ head: HTTPRequestHead) -> Bool {
        state.withLock { state in
            guard let required = state.requiredProxyAuthorization else { return false }
            return head.headers.first(name: "proxy-authorization") != required
        }
    }

    func connectRefused() {
        state.withLock { $0.connects += 1 }
    }

    func connected() {
        state.withLock { $0.connections += 1 }
    }

    /// What the origin sends for `bytes` under a content or transfer coding: other bytes, a third as many (as a
    /// compressor would), never a prefix or slice of the object.
    package static func encoded(_ bytes: [UInt8]) -> [UInt8] {
        Self.bytes(length: max(1, bytes.count / 3), seed: 0xE5).enumerated().map {
            $0.element ^ bytes[$0.offset] ^ 0x5A
        }
    }

    /// Deterministic, position-dependent bytes: a wrong offset never matches.
    package static func bytes(length: Int, seed: UInt8) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: length)
        var value = UInt32(seed) &* 2_654_435_761 | 1
        for index in 0..<length {
            value ^= value << 13
            value ^= value >> 17
            value ^= value << 5
            result[index] = UInt8(truncatingIfNeeded: value)
        }
        return result
    }

    func record(_ head: HTTPRequestHead) -> (Object?, Fault?) {
        var target = Substring(head.uri)
        let absolute = target.hasPrefix("http://")
        if absolute {
            target = target.dropFirst("http://".count)
            target = target.firstIndex(of: "/").map { target[$0...] } ?? "/"
        }
        let path = String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        return state.withLock { state in
            if absolute { state.absoluteTargets.append(head.uri) }
            state.proxyAuthorizations.append(head.headers.first(name: "proxy-authorization"))
            state.requests[path, default: 0] += 1
            state.ranges[path, default: []].append(head.headers.first(name: "range"))
            state.hostHeaders.append(head.headers.first(name: "host") ?? "")
            state.acceptEncodings.append(head.headers.first(name: "accept-encoding"))
            if let range = head.headers.first(name: "range"), range.hasPrefix("bytes="),
                let start = Int(range.dropFirst("bytes=".count).prefix { $0.isNumber }),
                let index = state.rangeFaults[path]?.firstIndex(where: { $0.start == start && $0.remaining > 0 })
            {
                state.rangeFaults[path]![index].remaining -= 1
                return (state.objects[path], state.rangeFaults[path]![index].fault)
            }
            return (state.objects[path], state.faults[path])
        }
    }

    func sent(_ count: Int) {
        state.withLock { $0.bytesSent += count }
    }
}

final class OriginBox: Sendable {
    let origin = Mutex<TestOrigin?>(nil)
}

final class OriginHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let box: OriginBox
    private var head: HTTPRequestHead?
    /// Requests answered on this connection.
    private var answered = 0

    init(origin: OriginBox) {
        box = origin
    }

    func channelActive(context: ChannelHandlerContext) {
        box.origin.withLock { $0 }?.connected()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received): head = received
        case .body: break
        case .end:
            guard let head, let origin = box.origin.withLock({ $0 }) else { return }
            self.head = nil
            respond(context: context, head: head, origin: origin)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, origin: TestOrigin) {
        if head.method == .CONNECT {
            origin.connectRefused()
            writeSimple(context, status: .forbidden, body: "CONNECT is allowed to port 443 only\n")
            return
        }
        if origin.proxyAuthorizationMissing(head) {
            var headers = HTTPHeaders()
            headers.add(name: "Proxy-Authenticate", value: "Basic realm=\"proxy\"")
            writeSimple(
                context,
                status: .proxyAuthenticationRequired,
                body: "proxy credentials required\n",
                headers: headers
            )
            return
        }
        let (object, fault) = origin.record(head)
        defer { answered += 1 }
        if fault == .dropReusedConnection, answered > 0 {
            context.close(promise: nil)
            return
        }
        if case .delay(let milliseconds) = fault {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(milliseconds))) {
                let (handler, context) = loopBound.value
                handler.answer(context: context, head: head, object: object, fault: nil, origin: origin)
            }
            return
        }
        answer(context: context, head: head, object: object, fault: fault, origin: origin)
    }

    private func answer(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        object: TestOrigin.Object?,
        fault: TestOrigin.Fault?,
        origin: TestOrigin
    ) {
        var headers = HTTPHeaders()
        switch fault {
        case .refuse:
            context.close(promise: nil)
            return
        case .hang:
            return
        case .status(let code):
            writeSimple(context, status: HTTPResponseStatus(statusCode: code), body: "status \(code)\n")
            return
        case .redirect(let location):
            headers.add(name: "Location", value: location)
            writeSimple(context, status: .found, body: "moved\n", headers: headers)
            return
        default:
            break
        }
        guard let object else {
            writeSimple(context, status: .notFound, body: "not found\n")
            return
        }
        switch fault {
        case .transferEncoding(let coding):
            let encoded = TestOrigin.encoded(object.bytes)
            let chunk = String(encoded.count, radix: 16)
            let text =
                "HTTP/1.1 200 OK\r\nETag: \(object.etag)\r\nContent-Type: \(object.contentType)\r\n"
                + "Transfer-Encoding: \(coding), chunked\r\n\r\n"
            let body = head.method == .HEAD ? [] : Array("\(chunk)\r\n".utf8) + encoded + Array("\r\n0\r\n\r\n".utf8)
            writeRaw(context, Array(text.utf8) + body)
            origin.sent(encoded.count)
            return
        case .closeDelimited:
            let text =
                "HTTP/1.1 200 OK\r\nETag: \(object.etag)\r\nContent-Type: \(object.contentType)\r\nConnection: close\r\n\r\n"
            writeRaw(context, Array(text.utf8) + (head.method == .HEAD ? [] : object.bytes))
            origin.sent(object.bytes.count)
            return
        default:
            break
        }
        let body: [UInt8]
        if case .contentEncoding(let coding) = fault {
            body = coding.lowercased() == "identity" ? object.bytes : TestOrigin.encoded(object.bytes)
            headers.add(name: "Content-Encoding", value: coding)
        } else {
            body = object.bytes
        }
        if case .vary(let value) = fault { headers.add(name: "Vary", value: value) }
        let length = body.count
        headers.add(name: "ETag", value: fault == .changedETag ? "\"changed\"" : object.etag)
        headers.add(name: "Last-Modified", value: object.lastModified)
        headers.add(name: "Content-Type", value: object.contentType)
        headers.add(name: "Accept-Ranges", value: "bytes")
        if fault == .noStore { headers.add(name: "Cache-Control", value: "no-store") }
        var status = HTTPResponseStatus.ok
        var range = 0..<length
        if fault != .ignoreRange, let value = head.headers.first(name: "range"),
            let parsed = Self.parseRange(value, length: length)
        {
            guard let parsed = parsed else {
                headers.add(name: "Content-Range", value: "bytes */\(length)")
                writeSimple(context, status: .rangeNotSatisfiable, body: "", headers: headers)
                return
            }
            status = .partialContent
            range = parsed
            headers.add(name: "Content-Range", value: "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(length)")
        }
        headers.add(name: "Content-Length", value: "\(range.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if head.method == .HEAD {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        var limit = range.count
        switch fault {
        case .resetAfter(let count), .shortBody(let count): limit = min(count, range.count)
        default: break
        }
        var offset = range.lowerBound
        let end = range.lowerBound + limit
        if case .slow(let pause) = fault {
            context.flush()
            origin.pacing(true)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Self.trickle(loopBound, bytes: body, from: offset, to: end, pause: pause, origin: origin)
            return
        }
        while offset < end {
            let next = min(end, offset + 65_536)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body[offset..<next])))), promise: nil)
            offset = next
        }
        origin.sent(limit)
        switch fault {
        case .resetAfter:
            let channel = context.channel
            context.flush()
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        case .shortBody:
            context.flush()
            context.close(promise: nil)
        default:
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Writes one 64 KiB chunk, then schedules the next after `pause` milliseconds.
    private static func trickle(
        _ loopBound: NIOLoopBound<(OriginHandler, ChannelHandlerContext)>,
        bytes: [UInt8],
        from offset: Int,
        to end: Int,
        pause: Int,
        origin: TestOrigin
    ) {
        let (handler, context) = loopBound.value
        guard context.channel.isActive else {
            origin.pacing(false)
            return
        }
        if offset >= end {
            origin.pacing(false)
            context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let next = min(end, offset + 65_536)
        context.writeAndFlush(
            handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes[offset..<next])))),
            promise: nil
        )
        origin.sent(next - offset)
        context.eventLoop.scheduleTask(in: .milliseconds(Int64(pause))) {
            trickle(loopBound, bytes: bytes, from: next, to: end, pause: pause, origin: origin)
        }
    }

    /// Writes bytes past the HTTP encoder (heads it would correct), then closes the connection.
    private func writeRaw(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        let channel = context.channel
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            channel.close(promise: nil)
            return
        }
        encoder.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes))).whenComplete { _ in channel.close(promise: nil) }
    }

    private func writeSimple(
        _ context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        body: String,
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        var headers = headers
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// `nil` for no usable single range (serve 200); `.some(nil)` for unsatisfiable.
    static func parseRange(_ value: String, length: Int) -> Range<Int>?? {
        guard value.hasPrefix("bytes="), !value.contains(",") else { return nil }
        let spec = value.dropFirst(6)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix > 0 else { return nil }
            return .some(max(0, length - suffix)..<length)
        }
        guard let start = Int(parts[0]) else { return nil }
        guard start < length else { return .some(nil) }
        let last = parts[1].isEmpty ? length - 1 : min(length - 1, Int(parts[1]) ?? length - 1)
        guard last >= start else { return nil }
        return .some(start..<(last + 1))
    }
}
