import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real HTTP origin on 127.0.0.1:0 for tests: deterministic objects, ranges, request counts and injected faults.
/// Every answer carries a `Date`; `If-None-Match` and `If-Modified-Since` are answered with 304 unless switched off.
/// It also answers requests sent to it as to a forward proxy (absolute-form targets, `GET http://host/path`), serving
/// the path from its own objects and recording the form, the `Proxy-Authorization` header and refusing `CONNECT`.
package final class TestOrigin: Sendable {
    /// One object the origin serves.
    package struct Object: Sendable {
        package var bytes: [UInt8]
        package var etag: String
        package var lastModified: String
        package var contentType: String
        /// Sent on every 200, 206, 304 and HEAD answer for the object (`Cache-Control`, `Expires`, `Date`...).
        package var headers: [(name: String, value: String)]

        package init(
            bytes: [UInt8],
            etag: String,
            lastModified: String = TestOrigin.defaultLastModified,
            contentType: String = "application/octet-stream",
            headers: [(name: String, value: String)] = []
        ) {
            self.bytes = bytes
            self.etag = etag
            self.lastModified = lastModified
            self.contentType = contentType
            self.headers = headers
        }
    }

    /// The `Last-Modified` of objects added without one.
    package static let defaultLastModified = "Wed, 21 Oct 2015 07:28:00 GMT"

    /// A whole answer scripted by a test: sent as it is, with its `Content-Length`, whatever the request.
    package struct ScriptedAnswer: Sendable, Equatable, CustomStringConvertible {
        package var status: Int
        package var headers: [(name: String, value: String)]
        package var body: [UInt8]

        package init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        package static func == (lhs: ScriptedAnswer, rhs: ScriptedAnswer) -> Bool {
            lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.elementsEqual(rhs.headers, by: ==)
        }

        package var description: String {
            "\(status) \(headers.map { "\($0.name): \($0.value)" }) \(body.count) bytes"
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
        /// Answer exactly this, whatever the request and whether the path has an object: see `respond(...)`.
        case scripted(ScriptedAnswer)

        /// Answer `status` with these headers and body (and its `Content-Length`) to every request: a 404 with
        /// `Cache-Control: max-age=60`, a 503 saying "busy", a 410.
        package static func respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) -> Fault {
            .scripted(ScriptedAnswer(status: status, headers: headers.map { (name: $0.0, value: $0.1) }, body: body))
        }

        /// `respond(status:headers:body:)` with a text body.
        package static func respond(status: Int, headers: [(String, String)] = [], body: String) -> Fault {
            respond(status: status, headers: headers, body: Array(body.utf8))
        }
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
        var serverNames: [String?] = []
        var requiredProxyAuthorization: String?
        /// Faults for the next requests of a path whose `Range` starts at a given offset: (start, fault, times left).
        var rangeFaults: [String: [(start: Int, fault: Fault, remaining: Int)]] = [:]
        /// Paced (`.slow`) responses being sent now, and the most at once.
        var pacedNow = 0
        var pacedMost = 0
        /// The headers of every request, per path, in order.
        var requestHeaders: [String: [[(name: String, value: String)]]] = [:]
        /// 304 answers sent, per path.
        var notModified: [String: Int] = [:]
        var honoursConditionals = true
    }

    private let state = Mutex(State())
    /// The clock its `Date` is read from, when a test gave one.
    private let clock = Mutex<TestClock?>(nil)
    private let channel: Mutex<(any Channel)?> = Mutex(nil)
    package let port: Int
    /// Whether it serves HTTPS.
    package let usesTLS: Bool

    private init(port: Int, channel: any Channel, usesTLS: Bool) {
        self.port = port
        self.usesTLS = usesTLS
        self.channel.withLock { $0 = channel }
    }

    /// Starts an origin on 127.0.0.1 with an ephemeral port; with `tls` (a certificate and its key, PEM files, as
    /// `TestCertificateAuthority.issue` makes them) it serves HTTPS, TLS 1.2 and 1.3.
    package static func start(tls: (certificate: String, key: String)? = nil) async throws -> TestOrigin {
        let box = OriginBox()
        let context = try tls.map { try Self.serverContext(certificate: $0.certificate, key: $0.key, box: box) }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OriginHandler(origin: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let origin = TestOrigin(port: channel.localAddress!.port!, channel: channel, usesTLS: tls != nil)
        box.origin.withLock { $0 = origin }
        return origin
    }

    /// A server context for the certificate and key that records the server name each client sends (SNI).
    private static func serverContext(certificate: String, key: String, box: OriginBox) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { values, promise in
            box.origin.withLock { $0 }?.handshakeStarted(serverName: values.serverHostname)
            promise.succeed(NIOSSLContextConfigurationOverride())
        }
        return try NIOSSLContext(configuration: configuration)
    }

    package func stop() async {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
    }

    /// `127.0.0.1:PORT`, the value for `cacheHostOrigin`.
    package var authority: String { "127.0.0.1:\(port)" }

    /// Adds (or replaces, for the next request) an object of deterministic bytes at `path` and returns them.
    /// `headers` are sent with each of its answers, 304s included.
    @discardableResult
    package func add(
        _ path: String,
        length: Int,
        seed: UInt8 = 1,
        etag: String? = nil,
        lastModified: String = TestOrigin.defaultLastModified,
        contentType: String = "application/octet-stream",
        headers: [(name: String, value: String)] = []
    ) -> [UInt8] {
        let bytes = Self.bytes(length: length, seed: seed)
        let object = Object(
            bytes: bytes,
            etag: etag ?? "\"\(seed)-\(length)\"",
            lastModified: lastModified,
            contentType: contentType,
            headers: headers
        )
        state.withLock { $0.objects[path] = object }
        return bytes
    }

    package func add(_ path: String, object: Object) {
        state.withLock { $0.objects[path] = object }
    }

    /// Changes the object at `path` in place (its headers, say) for the next requests; nothing without one.
    package func update(_ path: String, _ change: (inout Object) -> Void) {
        state.withLock { state in
            guard var object = state.objects[path] else { return }
            change(&object)
            state.objects[path] = object
        }
    }

    /// Whether `If-None-Match` and `If-Modified-Since` get a 304 when they match (default true); false for an
    /// origin that ignores them and sends the object again.
    package var honoursConditionals: Bool {
        get { state.withLock { $0.honoursConditionals } }
        set { state.withLock { $0.honoursConditionals = newValue } }
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

    /// The headers of each request for `path` (without the query), in order.
    package func requestHeaders(_ path: String) -> [[(name: String, value: String)]] {
        state.withLock { $0.requestHeaders[path] ?? [] }
    }

    /// Requests for `path` that carried `If-None-Match` or `If-Modified-Since`.
    package func conditionalRequests(_ path: String) -> Int {
        requestHeaders(path).filter { headers in
            headers.contains { ["if-none-match", "if-modified-since"].contains($0.name.lowercased()) }
        }
        .count
    }

    /// 304 Not Modified answers sent for `path`.
    package func notModifiedSent(_ path: String) -> Int { state.withLock { $0.notModified[path] ?? 0 } }

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

    /// The server name (SNI) of each TLS handshake a client began, in order (`nil` where it sent none).
    package var serverNames: [String?] { state.withLock { $0.serverNames } }

    func handshakeStarted(serverName: String?) {
        state.withLock { $0.serverNames.append(serverName) }
    }

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

    /// The path of a request target (origin or absolute form), without the query.
    static func path(of uri: String) -> String {
        var target = Substring(uri)
        if target.hasPrefix("http://") {
            target = target.dropFirst("http://".count)
            target = target.firstIndex(of: "/").map { target[$0...] } ?? "/"
        }
        return String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
    }

    func record(_ head: HTTPRequestHead) -> (Object?, Fault?) {
        let absolute = head.uri.hasPrefix("http://")
        let path = Self.path(of: head.uri)
        return state.withLock { state in
            if absolute { state.absoluteTargets.append(head.uri) }
            state.proxyAuthorizations.append(head.headers.first(name: "proxy-authorization"))
            state.requests[path, default: 0] += 1
            state.requestHeaders[path, default: []].append(head.headers.map { (name: $0.name, value: $0.value) })
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

    func sentNotModified(_ path: String) {
        state.withLock { $0.notModified[path, default: 0] += 1 }
    }

    /// Whether a GET or HEAD carries a validator that matches `etag` or `lastModified` (RFC 9110 13.2.2): a 304 is
    /// due. `If-None-Match` (weak comparison, `*`) decides when present; `If-Modified-Since` otherwise.
    func notModified(_ head: HTTPRequestHead, etag: String, lastModified: String) -> Bool {
        guard head.method == .GET || head.method == .HEAD, honoursConditionals else { return false }
        let ifNoneMatch = head.headers["if-none-match"]
        if !ifNoneMatch.isEmpty {
            let tags = ifNoneMatch.flatMap { $0.split(separator: ",") }.map { tag in
                let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
                return String(String(tag.drop(while: blank).reversed()).drop(while: blank).reversed())
            }
            return tags.contains { $0 == "*" || Self.weaklyEqual($0, etag) }
        }
        guard let since = head.headers.first(name: "if-modified-since").flatMap(Self.epochSeconds(httpDate:)),
            let modified = Self.epochSeconds(httpDate: lastModified)
        else { return false }
        return modified <= since
    }

    /// Weak comparison of two entity tags: equal opaque tags, whatever their `W/` prefixes.
    static func weaklyEqual(_ left: some StringProtocol, _ right: some StringProtocol) -> Bool {
        func opaque(_ tag: some StringProtocol) -> Substring {
            let tag = Substring(tag)
            return tag.hasPrefix("W/") ? tag.dropFirst(2) : tag
        }
        return opaque(left) == opaque(right)
    }
}

extension TestOrigin {
    private static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let monthNames = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    /// Now, in whole seconds since 1970.
    package static var nowSeconds: Int { Int(time(nil)) }

    /// Reads `Date` from `clock` from now on (the engine's cache reads it too: see `EngineHarness`).
    package func use(_ clock: TestClock) {
        self.clock.withLock { $0 = clock }
    }

    /// The `Date` of an answer sent now: by the test's clock when it gave one.
    package func dateNow() -> String {
        guard let clock = clock.withLock({ $0 }) else { return Self.httpDate() }
        return Self.httpDate(epochSeconds: Int(clock.now))
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `seconds` since 1970.
    package static func httpDate(epochSeconds seconds: Int) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        gmtime_r(&clock, &parts)
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let clockText = "\(twoDigits(parts.tm_hour)):\(twoDigits(parts.tm_min)):\(twoDigits(parts.tm_sec))"
        return "\(dayNames[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(monthNames[Int(parts.tm_mon)]) "
            + "\(parts.tm_year + 1900) \(clockText) GMT"
    }

    /// The IMF-fixdate `offset` seconds from now (negative: in the past).
    package static func httpDate(secondsFromNow offset: Int = 0) -> String {
        httpDate(epochSeconds: nowSeconds + offset)
    }

    /// The seconds since 1970 of an IMF-fixdate; `nil` for anything else (`0`, an obsolete form, garbage).
    package static func epochSeconds(httpDate text: String) -> Int? {
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 6, words[0].hasSuffix(","), dayNames.contains(String(words[0].dropLast())),
            words[1].count == 2, let day = Int(words[1]),
            let month = monthNames.firstIndex(of: String(words[2])),
            words[3].count == 4, let year = Int(words[3]), words[5] == "GMT"
        else { return nil }
        let clock = words[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }), let hour = Int(clock[0]),
            let minute = Int(clock[1]), let second = Int(clock[2])
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Int(timegm(&parts))
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
    /// Whether the request being answered asked to close the connection after its answer (`Connection: close`).
    private var closesAfterAnswer = false

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
            closesAfterAnswer = !head.isKeepAlive
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
        case .scripted(let scripted):
            writeScripted(context, scripted, head: head, origin: origin)
            return
        default:
            break
        }
        guard let object else {
            writeSimple(context, status: .notFound, body: "not found\n")
            return
        }
        let etag = fault == .changedETag ? "\"changed\"" : object.etag
        if origin.notModified(head, etag: etag, lastModified: object.lastModified) {
            origin.sentNotModified(TestOrigin.path(of: head.uri))
            headers.add(name: "ETag", value: etag)
            headers.add(name: "Last-Modified", value: object.lastModified)
            addDate(to: &headers, unlessIn: object.headers)
            for (name, value) in object.headers { headers.add(name: name, value: value) }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notModified, headers: headers))),
                promise: nil
            )
            endAnswer(context)
            return
        }
        switch fault {
        case .transferEncoding(let coding):
            let encoded = TestOrigin.encoded(object.bytes)
            let chunk = String(encoded.count, radix: 16)
            let text =
                "HTTP/1.1 200 OK\r\nETag: \(object.etag)\r\nContent-Type: \(object.contentType)\r\n"
                + "Date: \(dateNow())\r\nTransfer-Encoding: \(coding), chunked\r\n\r\n"
            let body = head.method == .HEAD ? [] : Array("\(chunk)\r\n".utf8) + encoded + Array("\r\n0\r\n\r\n".utf8)
            writeRaw(context, Array(text.utf8) + body)
            origin.sent(encoded.count)
            return
        case .closeDelimited:
            let text =
                "HTTP/1.1 200 OK\r\nETag: \(object.etag)\r\nContent-Type: \(object.contentType)\r\n"
                + "Date: \(dateNow())\r\nConnection: close\r\n\r\n"
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
        headers.add(name: "ETag", value: etag)
        headers.add(name: "Last-Modified", value: object.lastModified)
        headers.add(name: "Content-Type", value: object.contentType)
        headers.add(name: "Accept-Ranges", value: "bytes")
        if fault == .noStore { headers.add(name: "Cache-Control", value: "no-store") }
        addDate(to: &headers, unlessIn: object.headers)
        for (name, value) in object.headers { headers.add(name: name, value: value) }
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
            endAnswer(context)
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
            endAnswer(context)
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
            handler.endAnswer(context)
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

    /// Ends an answer, then closes the connection if the request asked for it.
    private func endAnswer(_ context: ChannelHandlerContext) {
        guard closesAfterAnswer else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
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

    /// Sends a scripted answer as it is, with its `Content-Length` and (unless it has one) a `Date`.
    private func writeScripted(
        _ context: ChannelHandlerContext,
        _ scripted: TestOrigin.ScriptedAnswer,
        head: HTTPRequestHead,
        origin: TestOrigin
    ) {
        var headers = HTTPHeaders(scripted.headers.map { ($0.name, $0.value) })
        addDate(to: &headers, unlessIn: scripted.headers)
        headers.replaceOrAdd(name: "Content-Length", value: "\(scripted.body.count)")
        let status = HTTPResponseStatus(statusCode: scripted.status)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if head.method != .HEAD, !scripted.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: scripted.body)))), promise: nil)
            origin.sent(scripted.body.count)
        }
        endAnswer(context)
    }

    /// Adds `Date: <now>` unless `given` (an object's or a script's headers) has a `Date` of its own.
    private func addDate(to headers: inout HTTPHeaders, unlessIn given: [(name: String, value: String)]) {
        guard !given.contains(where: { $0.name.lowercased() == "date" }) else { return }
        headers.add(name: "Date", value: dateNow())
    }

    private func dateNow() -> String {
        box.origin.withLock { $0 }?.dateNow() ?? TestOrigin.httpDate()
    }

    private func writeSimple(
        _ context: ChannelHandlerContext,
        status: HTTPResponseStatus,
        body: String,
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        var headers = headers
        addDate(to: &headers, unlessIn: headers.map { (name: $0.name, value: $0.value) })
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
        endAnswer(context)
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
