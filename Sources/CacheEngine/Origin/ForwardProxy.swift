import AsyncHTTPClient
import CacheNodeCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Sends origin requests through an HTTP proxy the way curl and browsers send plain-HTTP requests to one: the request
/// line carries the absolute URL (`GET http://host/path HTTP/1.1`). AsyncHTTPClient would open a `CONNECT host:80`
/// tunnel instead, which Squid (and most proxies) refuse for any port but 443. (HTTPS origins do go through a
/// `CONNECT` tunnel: `PooledConnections.Tunnel`.)
final class ForwardProxyClient: Sendable {
    private let proxy: ProxyURL
    private let connections: PooledConnections

    init(proxy: ProxyURL, connectTimeout: TimeAmount, readTimeout: TimeAmount, eventLoopGroup: any EventLoopGroup) {
        self.proxy = proxy
        connections = PooledConnections(
            connectTimeout: connectTimeout,
            readTimeout: readTimeout,
            tls: nil,
            eventLoopGroup: eventLoopGroup
        )
    }

    /// `Proxy-Authorization` for a proxy URL that carries `user:password@`.
    static func authorization(_ proxy: ProxyURL) -> String? {
        guard let user = proxy.user else { return nil }
        return "Basic " + Data("\(user):\(proxy.password ?? "")".utf8).base64EncodedString()
    }

    /// Sends one request for the absolute `url` and returns once the response head has arrived.
    func execute(method: HTTPMethod, url: String, headers: HTTPHeaders) async throws -> HTTPClientResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url, headers: headers)
        if let credentials = Self.authorization(proxy) {
            head.headers.replaceOrAdd(name: "Proxy-Authorization", value: credentials)
        }
        return try await connections.execute(head, at: .init(host: proxy.host, port: proxy.port))
    }

    func shutdown() {
        connections.shutdown()
    }
}

/// Kept-alive HTTP/1.1 connections to endpoints (the upstream proxy; an HTTPS origin at its checked address or through
/// a `CONNECT` tunnel of the proxy), reused one exchange at a time. A response body is read from the socket only as
/// fast as the engine consumes it, so a large range never piles up in memory.
final class PooledConnections: Sendable {
    /// Where a connection goes: the host or address and port connected to, and for an HTTPS origin the origin as its
    /// certificate must name it and the proxy's tunnel to it, if any.
    struct Endpoint: Hashable, Sendable {
        var host: String
        var port: Int
        /// Over TLS: the origin's name (sent as SNI) or IP address, which its certificate must carry
        /// (`OriginTLS.certificate(_:identifies:)`); `nil`: plain HTTP.
        var origin: String?
        /// Through the upstream proxy (`host` and `port` are then the proxy's): the tunnel to the origin.
        var tunnel: Tunnel?

        var usesTLS: Bool { origin != nil }
    }

    /// A `CONNECT` tunnel: `target` is `host:port` of the origin, `authorization` the proxy's credentials.
    struct Tunnel: Hashable, Sendable {
        var target: String
        var authorization: String?
    }

    private let connectTimeout: TimeAmount
    private let readTimeout: TimeAmount
    private let tls: NIOSSLContext?
    private let group: any EventLoopGroup
    private let idle = Mutex<[Endpoint: [ProxyConnection]]>([:])
    /// Idle connections kept per endpoint and in all.
    private let maxIdle = 64
    private let maxIdleInAll = 256

    init(connectTimeout: TimeAmount, readTimeout: TimeAmount, tls: NIOSSLContext?, eventLoopGroup: any EventLoopGroup) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.tls = tls
        group = eventLoopGroup
    }

    /// Sends `head` on a kept-alive connection to `endpoint` (a new one when none is idle, or when the idle one turns
    /// out closed) and returns once the response head has arrived.
    func execute(_ head: HTTPRequestHead, at endpoint: Endpoint) async throws -> HTTPClientResponse {
        if let pooled = takeIdle(endpoint) {
            do {
                return try await pooled.exchange(head, pool: self)
            } catch  where OriginClient.isStaleConnection(error) {
                // The peer closed the kept-alive connection as the request went out: a new connection follows.
            }
        }
        return try await connect(endpoint).exchange(head, pool: self)
    }

    /// A new connection: TCP, the proxy's tunnel if any, the TLS handshake and the origin's identity if TLS; no request
    /// is written before all of them succeeded.
    private func connect(_ endpoint: Endpoint) async throws -> ProxyConnection {
        let tls = try endpoint.usesTLS ? tlsContext() : nil
        let connectTimeout = self.connectTimeout
        let loop = group.next()
        let tunnel: EventLoopPromise<Void>? = endpoint.tunnel.map { _ in loop.makePromise() }
        let handshake: EventLoopPromise<Void>? = endpoint.usesTLS ? loop.makePromise() : nil
        let connection = ConnectionSetup(endpoint: endpoint, tls: tls, handshake: handshake, timeouts: timeouts)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(connectTimeout)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.autoRead, value: false)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tunnel, let request = endpoint.tunnel {
                            // The rest of the pipeline follows once the proxy has opened the tunnel.
                            try channel.pipeline.syncOperations.addHandler(
                                TunnelHandler(request, promise: tunnel, deadline: connectTimeout)
                            )
                        } else {
                            try connection.addHandlers(channel)
                        }
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port)
                .get()
        } catch {
            tunnel?.fail(error)
            handshake?.fail(error)
            throw error
        }
        do {
            if let tunnel {
                try await tunnel.futureResult.get()
                try await loop.submit { try connection.addHandlers(channel) }.get()
            }
            try await handshake?.futureResult.get()
        } catch {
            handshake?.fail(error)
            channel.close(promise: nil)
            throw error
        }
        let reader = try await channel.pipeline.handler(type: ProxyResponseReader.self).map {
            NIOLoopBound($0, eventLoop: channel.eventLoop)
        }.get()
        return ProxyConnection(channel: channel, reader: reader, endpoint: endpoint)
    }

    private var timeouts: (connect: TimeAmount, read: TimeAmount) { (connectTimeout, readTimeout) }

    private func tlsContext() throws -> NIOSSLContext {
        guard let tls else { throw OriginFailure.unreachable("no TLS configuration for origins") }
        return tls
    }

    private func takeIdle(_ endpoint: Endpoint) -> ProxyConnection? {
        var stale: [ProxyConnection] = []
        defer { stale.forEach { $0.close() } }
        return idle.withLock { table in
            defer { if table[endpoint]?.isEmpty == true { table[endpoint] = nil } }
            while let connection = table[endpoint]?.popLast() {
                if connection.channel.isActive { return connection }
                stale.append(connection)
            }
            return nil
        }
    }

    /// Keeps a connection whose response ended cleanly for the next request.
    fileprivate func giveBack(_ connection: ProxyConnection) {
        guard connection.channel.isActive else { return connection.close() }
        // Queued on the connection's event loop before anyone can take it from the pool, so the watch never runs
        // after the next exchange has begun.
        connection.watchWhileIdle()
        let kept = idle.withLock { table in
            let all = table.values.reduce(0) { $0 + $1.count }
            guard all < maxIdleInAll, table[connection.endpoint, default: []].count < maxIdle else { return false }
            table[connection.endpoint, default: []].append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    func shutdown() {
        let connections = idle.withLock { table in
            defer { table.removeAll() }
            return table.values.flatMap { $0 }
        }
        connections.forEach { $0.close() }
    }
}

/// The handlers of a new connection to an endpoint, added when it connected or, through a proxy, once the tunnel
/// opened: TLS for an HTTPS origin (its handshake completing `handshake`), then HTTP/1.1.
private struct ConnectionSetup: Sendable {
    var endpoint: PooledConnections.Endpoint
    var tls: NIOSSLContext?
    var handshake: EventLoopPromise<Void>?
    var timeouts: (connect: TimeAmount, read: TimeAmount)

    func addHandlers(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tls, let handshake, let origin = endpoint.origin {
            // SNI carries names only; an IP-address origin sends none.
            let serverName = IPAddress(origin) == nil ? origin : nil
            try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
            try pipeline.addHandler(TLSHandshakeWatch(handshake, deadline: timeouts.connect, origin: origin))
        }
        try pipeline.addHTTPClientHandlers()
        try pipeline.addHandler(ProxyResponseReader(readTimeout: timeouts.read))
    }
}

/// Waits for the TLS handshake of a new connection (the channel does not read on its own, so it asks for the first
/// read), within `deadline`, then checks that the certificate identifies `origin` (`OriginTLS.certificate(_:
/// identifies:)`): `result` fails with the handshake's error or that reason.
final class TLSHandshakeWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let promise: EventLoopPromise<Void>
    private let deadline: TimeAmount
    private let origin: String
    private var timer: Scheduled<Void>?
    private var started = false
    private var done = false

    init(_ promise: EventLoopPromise<Void>, deadline: TimeAmount, origin: String) {
        self.promise = promise
        self.deadline = deadline
        self.origin = origin
    }

    /// Added to a channel already connected (after a tunnel opened), the handshake has begun.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [self] in
            finish(.failure(OriginFailure.timeout))
            context.close(promise: nil)
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            guard let certificate = handler?.peerCertificate, OriginTLS.certificate(certificate, identifies: origin)
            else {
                finish(.failure(OriginTLS.notNamed(origin)))
                context.close(promise: nil)
                return
            }
            finish(.success(()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(HTTPClientError.remoteConnectionClosed))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.ioOnClosedChannel))
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.completeWith(result)
    }
}

/// Opens a `CONNECT` tunnel through the upstream proxy: writes the request, reads the proxy's answer head within
/// `deadline`. On a 2xx `promise` succeeds and every byte after passes through (the connection is the origin's from
/// then on); a 407 fails it with `OriginFailure.proxyAuthentication`, any other answer with the proxy's refusal.
final class TunnelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The longest answer head read from the proxy.
    static let maxHead = 16 * 1024

    private let request: PooledConnections.Tunnel
    private let promise: EventLoopPromise<Void>
    private let deadline: TimeAmount
    private var received = ByteBuffer()
    private var timer: Scheduled<Void>?
    private var open = false
    private var done = false

    init(_ request: PooledConnections.Tunnel, promise: EventLoopPromise<Void>, deadline: TimeAmount) {
        self.request = request
        self.promise = promise
        self.deadline = deadline
    }

    func channelActive(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [self] in
            finish(.failure(OriginFailure.timeout))
            context.close(promise: nil)
        }
        var head = "CONNECT \(request.target) HTTP/1.1\r\nHost: \(request.target)\r\n"
        if let authorization = request.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head + "\r\n")), promise: nil)
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !open else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        let view = received.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else {
            if view.count > Self.maxHead {
                finish(.failure(OriginFailure.unreachable("the upstream proxy's answer to CONNECT is too long")))
                context.close(promise: nil)
            }
            return
        }
        let head = String(decoding: view[..<end.lowerBound], as: UTF8.self)
        let fields = head.split(separator: "\r\n", maxSplits: 1).first?.split(separator: " ", maxSplits: 2) ?? []
        let status = fields.count >= 2 && fields[0].hasPrefix("HTTP/1.") ? Int(fields[1]) ?? 0 : 0
        switch status {
        case 200..<300 where end.upperBound == view.endIndex:
            open = true
            finish(.success(()))
        case 200..<300:
            finish(.failure(OriginFailure.unreachable("the upstream proxy sent bytes after opening a tunnel")))
            context.close(promise: nil)
        case 407:
            finish(.failure(OriginFailure.proxyAuthentication))
            context.close(promise: nil)
        default:
            let answer = head.prefix { $0 != "\r" }.prefix(200)
            finish(
                .failure(
                    OriginFailure.unreachable(
                        "the upstream proxy refused a CONNECT tunnel to \(request.target) ('\(answer)'; it must allow "
                            + "CONNECT to that port)"
                    )
                )
            )
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !done { context.read() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(
            .failure(
                OriginFailure.unreachable(
                    "the upstream proxy closed the connection before opening a tunnel to "
                        + request.target
                )
            )
        )
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.completeWith(result)
    }
}

/// One kept-alive connection to an endpoint (the proxy, an origin); one exchange at a time.
final class ProxyConnection: Sendable {
    let channel: any Channel
    let endpoint: PooledConnections.Endpoint
    private let reader: NIOLoopBound<ProxyResponseReader>

    init(channel: any Channel, reader: NIOLoopBound<ProxyResponseReader>, endpoint: PooledConnections.Endpoint) {
        self.channel = channel
        self.reader = reader
        self.endpoint = endpoint
    }

    /// Writes the request and waits for the response head; the body streams from the returned response.
    fileprivate func exchange(_ head: HTTPRequestHead, pool: PooledConnections) async throws -> HTTPClientResponse {
        let reader = self.reader
        try await channel.eventLoop.submit { reader.value.begin() }.get()
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        do {
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil))
            while true {
                switch try await next() {
                case .head(let response) where response.status.code < 200:
                    continue  // 1xx: the final answer follows
                case .head(let response):
                    let exchange = ProxyExchange(
                        connection: self,
                        pool: pool,
                        reusable: head.isKeepAlive && response.isKeepAlive,
                        length: Self.bodyLength(request: head, response: response)
                    )
                    if exchange.isEmpty { try await exchange.finish() }
                    return HTTPClientResponse(
                        version: response.version,
                        status: response.status,
                        headers: response.headers,
                        body: .stream(ProxyResponseBody(exchange: exchange))
                    )
                case .body, .end:
                    throw HTTPClientError.invalidProxyResponse
                case nil:
                    throw HTTPClientError.remoteConnectionClosed
                }
            }
        } catch {
            close()
            throw error
        }
    }

    /// The body length the head announces: 0 for HEAD, 204 and 304, `nil` when it is not known.
    static func bodyLength(request: HTTPRequestHead, response: HTTPResponseHead) -> Int64? {
        if request.method == .HEAD || response.status == .noContent || response.status == .notModified { return 0 }
        if response.headers.contains(name: "transfer-encoding") { return nil }
        return response.headers.first(name: "content-length").flatMap { Int64($0) }
    }

    /// The next response part; `nil` once the proxy closed the connection.
    func next() async throws -> HTTPClientResponsePart? {
        let reader = self.reader
        let loop = channel.eventLoop
        return try await loop.flatSubmit { reader.value.next(on: loop) }.get()
    }

    /// While idle in the pool, reads so that the proxy closing the connection is noticed.
    func watchWhileIdle() {
        let reader = self.reader
        channel.eventLoop.execute { reader.value.watch() }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// A response body read from the proxy connection on demand.
struct ProxyResponseBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let exchange: ProxyExchange

    func makeAsyncIterator() -> Iterator {
        Iterator(exchange: exchange)
    }

    struct Iterator: AsyncIteratorProtocol {
        let exchange: ProxyExchange

        func next() async throws -> ByteBuffer? {
            try await exchange.next()
        }
    }
}

/// One response on a proxy connection. The connection goes back to the pool once the response has ended, even
/// when the reader stops at the last byte without asking for the end; a response dropped before its end closes the
/// connection, since unread bytes would precede the next response.
final class ProxyExchange: Sendable {
    private let connection: ProxyConnection
    private let pool: PooledConnections
    private let reusable: Bool
    private let state: Mutex<(remaining: Int64?, finished: Bool)>

    init(connection: ProxyConnection, pool: PooledConnections, reusable: Bool, length: Int64?) {
        self.connection = connection
        self.pool = pool
        self.reusable = reusable
        state = Mutex((length, false))
    }

    deinit {
        if !state.withLock({ $0.finished }) { connection.close() }
    }

    var isEmpty: Bool { state.withLock { $0.remaining == 0 } }

    func next() async throws -> ByteBuffer? {
        guard !state.withLock({ $0.finished }) else { return nil }
        do {
            switch try await connection.next() {
            case .body(let buffer):
                let remaining = state.withLock { state in
                    state.remaining = state.remaining.map { $0 - Int64(buffer.readableBytes) }
                    return state.remaining
                }
                if remaining == 0 { try await finish() }
                return buffer
            case .end:
                end()
                return nil
            case .head:
                throw HTTPClientError.invalidProxyResponse
            case nil:
                throw HTTPClientError.remoteConnectionClosed
            }
        } catch let error as HTTPParserError where error == .invalidEOFState {
            // The proxy closed the connection before the announced length arrived.
            abandon()
            throw HTTPClientError.remoteConnectionClosed
        } catch {
            abandon()
            throw error
        }
    }

    /// Reads the end that must follow the last announced byte, and releases the connection.
    func finish() async throws {
        guard case .end = try await connection.next() else {
            abandon()
            throw HTTPClientError.invalidProxyResponse
        }
        end()
    }

    private func end() {
        state.withLock { $0.finished = true }
        if reusable { pool.giveBack(connection) } else { connection.close() }
    }

    private func abandon() {
        state.withLock { $0.finished = true }
        connection.close()
    }
}

/// Hands response parts to one waiting reader at a time and asks the socket for more only when someone waits
/// (the channel does not read on its own), with the origin read timeout while waiting.
final class ProxyResponseReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let readTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var parts = CircularBuffer<HTTPClientResponsePart>()
    private var waiter: EventLoopPromise<HTTPClientResponsePart?>?
    private var timer: Scheduled<Void>?
    private var failure: (any Error)?
    private var closed = false
    private var exchanging = false

    init(readTimeout: TimeAmount) {
        self.readTimeout = readTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// An exchange starts: what arrives from now on is its response.
    func begin() {
        exchanging = true
    }

    /// Idle in the pool: read, so that a close (or anything unexpected) is seen.
    func watch() {
        exchanging = false
        context?.read()
    }

    func next(on loop: any EventLoop) -> EventLoopFuture<HTTPClientResponsePart?> {
        if let part = parts.popFirst() { return loop.makeSucceededFuture(part) }
        if let failure { return loop.makeFailedFuture(failure) }
        guard let context, !closed else { return loop.makeSucceededFuture(nil) }
        let promise = loop.makePromise(of: HTTPClientResponsePart?.self)
        waiter = promise
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) { [self] in
            fail(OriginFailure.timeout)
            self.context?.close(promise: nil)
        }
        context.read()
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard exchanging else {
            // Bytes on an idle connection belong to no request: the connection cannot be trusted any more.
            context.close(promise: nil)
            return
        }
        let part = unwrapInboundIn(data)
        if let waiter = takeWaiter() {
            waiter.succeed(part)
        } else {
            parts.append(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // The read brought only part of a message (half a head): read on while someone waits.
        if waiter != nil { context.read() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        takeWaiter()?.succeed(nil)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        if failure == nil { failure = error }
        takeWaiter()?.fail(error)
    }

    private func takeWaiter() -> EventLoopPromise<HTTPClientResponsePart?>? {
        timer?.cancel()
        timer = nil
        defer { waiter = nil }
        return waiter
    }
}
