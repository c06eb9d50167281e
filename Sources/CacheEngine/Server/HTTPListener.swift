import CacheProtocol
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Answers one request; returns whether the connection may stay open.
protocol HTTPResponder: Sendable {
    func respond(to head: HTTPRequestHead, client: String, writer: ResponseWriter) async -> Bool
}

/// An HTTP/1.1 listener: ServerBootstrap, keep-alive, a connection cap and timeouts.
///
/// A connection is only channel handlers while it is idle; each complete request becomes a task that answers it.
/// An idle keep-alive connection therefore costs no task and no async stream, which is most of a connection's
/// memory when thousands of devices keep theirs open between pieces.
final class HTTPListener: Sendable {
    struct Limits: Sendable {
        var maxConnections: Int
        /// How long a connection may wait for its next request, or for a client that stopped reading.
        var idleTimeout: TimeAmount
        /// How long a request may take to arrive, from its first byte to its last.
        var requestTimeout: TimeAmount

        /// The request deadline is the idle timeout up to 10 s: a request is a few hundred bytes.
        init(maxConnections: Int, idleTimeout: TimeAmount, requestTimeout: TimeAmount? = nil) {
            self.maxConnections = maxConnections
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout ?? min(idleTimeout, .seconds(10))
        }
    }

    private struct State {
        var port: Int?
        var failure: EngineError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
        var shuttingDown = false
        /// Open connections and the number of requests each is answering.
        var connections: [ObjectIdentifier: (channel: any Channel, busy: Int)] = [:]
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var server: (any Channel)?
    }

    let host: String
    let port: Int
    let name: String
    private let limits: Limits
    fileprivate let responder: any HTTPResponder
    private let counters: EngineCounters?
    fileprivate let logger: Logger
    private let state = Mutex(State())

    init(name: String, host: String, port: Int, limits: Limits, responder: any HTTPResponder, counters: EngineCounters?, logger: Logger) {
        self.name = name
        self.host = host
        self.port = port
        self.limits = limits
        self.responder = responder
        self.counters = counters
        self.logger = logger
    }

    /// The bound port, once listening (port 0 binds an ephemeral port).
    func boundPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLock { state -> Result<Int, any Error>? in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(failure) }
                state.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    private func report(_ result: Result<Int, EngineError>) {
        let waiters = state.withLock { state in
            switch result {
            case .success(let port): state.port = port
            case .failure(let error): state.failure = error
            }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Binds and serves until graceful shutdown, then lets in-flight responses finish.
    func run() async throws {
        let limits = self.limits
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 4)
                // Requests are a few hundred bytes: a small first read buffer, grown when a read fills it.
                .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RequestBytesObserver())
                        // `RequestDispatcher` answers protocol errors: it knows whether a refusal is on its way.
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withPipeliningAssistance: true,
                            withErrorHandling: false
                        )
                        try channel.pipeline.syncOperations.addHandler(
                            ConnectionGuard(idleTimeout: limits.idleTimeout, requestTimeout: limits.requestTimeout)
                        )
                        try channel.pipeline.syncOperations.addHandler(RequestDispatcher(listener: self))
                    }
                }
                .bind(host: host, port: port)
                .get()
        } catch {
            let failure = EngineError.bindFailed(address: "\(host):\(port)", reason: "\(error)")
            report(.failure(failure))
            throw failure
        }
        let bound = server.localAddress?.port ?? port
        let stopNow = state.withLock { state in
            state.server = server
            return state.shuttingDown
        }
        if stopNow { server.close(promise: nil) }
        report(.success(bound))
        logger.info("listening", metadata: ["listener": "\(name)", "address": "\(host):\(bound)"])

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await server.closeFuture.get()
                await drained()
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
    }

    /// Stops accepting, closes idle keep-alive connections; busy ones close after their response.
    func shutdown() {
        let (server, idle) = state.withLock { state in
            state.shuttingDown = true
            return (state.server, state.connections.values.filter { $0.busy == 0 }.map(\.channel))
        }
        server?.close(promise: nil)
        for channel in idle { channel.close(promise: nil) }
    }

    /// Returns once every connection has closed (after `shutdown`, busy ones close when their response ends).
    private func drained() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.connections.isEmpty { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// A new connection: counted, or refused (closed before anything is read) over the cap or while stopping.
    fileprivate func admit(_ channel: any Channel) -> Bool {
        let admitted = state.withLock { state -> Bool in
            guard !state.shuttingDown, state.connections.count < limits.maxConnections else { return false }
            state.connections[ObjectIdentifier(channel)] = (channel, 0)
            return true
        }
        if admitted { counters?.connectionOpened() }
        return admitted
    }

    fileprivate func release(_ channel: any Channel) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connections[ObjectIdentifier(channel)] = nil
            guard state.connections.isEmpty else { return [] }
            defer { state.drainWaiters.removeAll() }
            return state.drainWaiters
        }
        counters?.connectionClosed()
        waiters.forEach { $0.resume() }
    }

    /// Counts a request starting (`+1`) or ending (`-1`) on `channel`; returns whether the listener is stopping.
    fileprivate func busy(_ channel: any Channel, _ change: Int) -> Bool {
        state.withLock { state in
            let id = ObjectIdentifier(channel)
            state.connections[id]?.busy += change
            return state.shuttingDown
        }
    }
}

/// Turns the request parts of one connection into requests for the responder, one task per request. With
/// pipelining assistance the next request's parts arrive only once the previous response has ended.
///
/// A head that announces a body is answered at once (the engine takes no request bodies) and the connection closes
/// after that answer: nothing after the head is read or dispatched.
final class RequestDispatcher: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let listener: HTTPListener
    private var head: HTTPRequestHead?
    private var admitted = false
    /// Set once the connection only waits to close: a request was answered from its head, or was malformed.
    private var closing = false

    init(listener: HTTPListener) {
        self.listener = listener
    }

    func channelActive(context: ChannelHandlerContext) {
        admitted = listener.admit(context.channel)
        // Over the cap or stopping: closed at once, before reading anything, so the client falls back to the CDN.
        if !admitted { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            listener.release(context.channel)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted, !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let received):
            if received.judged.announcesBody {
                closing = true
                dispatch(received, context: context, closeAfter: true)
            } else {
                head = received
            }
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            dispatch(request, context: context, closeAfter: false)
        }
    }

    private func dispatch(_ request: HTTPRequestHead, context: ChannelHandlerContext, closeAfter: Bool) {
        let channel = context.channel
        let client = channel.remoteAddress?.ipAddress ?? "-"
        _ = listener.busy(channel, 1)
        let listener = self.listener
        Task {
            let writer = ResponseWriter(channel: channel)
            let keepAlive = await listener.responder.respond(to: request, client: client, writer: writer)
            let stopping = listener.busy(channel, -1)
            if closeAfter || !keepAlive || !request.isKeepAlive || stopping {
                try? await channel.close()
            }
        }
    }

    /// A malformed request gets a 400 and the connection closes, as NIO's `HTTPServerProtocolErrorHandler` does;
    /// after a request answered from its head (whose body may be what is malformed), that answer closes it instead.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let malformed = error is HTTPParserError || error is ByteToMessageDecoderError
        if closing && malformed { return }
        listener.logger.debug("connection ended", metadata: ["error": "\(error)"])
        guard malformed, admitted else {
            context.close(promise: nil)
            return
        }
        // With pipelining assistance a parser error is delivered only once the responses before it have ended.
        closing = true
        let channel = context.channel
        let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Why the engine cannot start or accept; each says what to do.
package enum EngineError: Error, Sendable, CustomStringConvertible {
    case bindFailed(address: String, reason: String)
    case tooManyConnections
    case invalidAddress(String)
    case resources(String)

    package var description: String {
        switch self {
        case .bindFailed(let address, let reason):
            if reason.contains("in use") || reason.contains("EADDRINUSE") {
                return "cannot listen on \(address): the address is already in use; stop the other program or change the port"
            }
            return "cannot listen on \(address): \(reason)"
        case .tooManyConnections: return "connection refused: the engine is at max_connections"
        case .invalidAddress(let text): return "\(text) is not a host:port address"
        case .resources(let reason): return reason
        }
    }
}
