import CacheProtocol
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOExtras
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Answers one request; returns whether the connection may stay open.
protocol HTTPResponder: Sendable {
    /// `client` is the peer's address; `scheme` says whether the request arrived through the TLS listener.
    func respond(
        to head: HTTPRequestHead,
        client: String,
        scheme: RequestScheme,
        writer: consuming ResponseWriter
    ) async -> Bool
}

/// An HTTP/1.1 listener: ServerBootstrap, keep-alive, a connection cap and timeouts.
///
/// A connection is only channel handlers while it is idle; each complete request becomes a child task of the
/// listener's `run()` (a discarding task group fed by the connections' `RequestDispatcher`s through an `AsyncStream`),
/// so an idle keep-alive connection costs no task, and no request outlives `run()`. Shutdown is NIO's quiescing:
/// the server channel closes, idle connections close at once, busy ones after their response (`ConnectionGate`
/// acts on `ChannelShouldQuiesceEvent`); `run()` returns once every connection has closed and every request task ended.
/// Cancelling `run()` (the grace period is over) cancels the request tasks, which close their connections.
///
/// With `tls`, every connection starts with `NIOSSLServerHandler` (the store's context when it was accepted) and a
/// handshake deadline; the rest of the pipeline, the deadlines, the cap and the quiescing are those of plain HTTP.
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

    /// What makes a listener a TLS listener: the certificate store new connections take their context from.
    struct TLS: Sendable {
        var certificates: CertificateStore
        /// A client that has not completed its handshake this long after connecting is cut.
        var handshakeTimeout: TimeAmount
        /// Where stored blocks are read into buffers to be encrypted (`sendfile` cannot be used under TLS).
        var disk: NIOThreadPool
    }

    let host: String
    let port: Int
    let name: String
    private let limits: Limits
    private let responder: any HTTPResponder
    private let connections: ConnectionCount
    private let tls: TLS?
    private let counters: EngineCounters?
    private let logger: Logger
    private let lifecycle = Mutex(ListenerLifecycle())
    private let requests: AsyncStream<RequestJob>
    private let submit: AsyncStream<RequestJob>.Continuation

    init(
        name: String,
        host: String,
        port: Int,
        limits: Limits,
        responder: any HTTPResponder,
        counters: EngineCounters?,
        logger: Logger,
        tls: TLS? = nil,
        connections: ConnectionCount? = nil
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.limits = limits
        self.responder = responder
        // Listeners given one count share `max_connections`.
        self.connections = connections ?? ConnectionCount(limit: limits.maxConnections, counters: counters)
        self.tls = tls
        self.counters = counters
        self.logger = logger
        (requests, submit) = AsyncStream.makeStream(of: RequestJob.self)
    }

    /// The bound port, once listening (port 0 binds an ephemeral port); throws if binding failed or on cancellation.
    func boundPort() async throws -> Int {
        let id = lifecycle.withLock { $0.newWaiterID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Checked under the lock the cancellation handler takes: a task cancelled before it waits never does.
                let result = lifecycle.withLock { lifecycle -> Result<Int, any Error>? in
                    if Task.isCancelled { return lifecycle.outcome ?? .failure(CancellationError()) }
                    return lifecycle.waitForPort(id: id, continuation)
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            lifecycle.withLock { $0.cancelWaiter(id: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Binds and serves until graceful shutdown (or cancellation), then returns once every connection closed.
    func run() async throws {
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let server: any Channel
        do {
            server = try await bootstrap(quiescing).bind(host: host, port: port).get()
        } catch {
            let failure = EngineError.bindFailed(address: "\(host):\(port)", reason: "\(error)")
            for (waiter, result) in lifecycle.withLock({ $0.bindFailed(failure) }) { waiter.resume(with: result) }
            submit.finish()
            throw failure
        }
        let bound = server.localAddress?.port ?? port
        let (waiters, stopNow) = lifecycle.withLock { $0.bound(port: bound, quiescing: quiescing) }
        for (waiter, result) in waiters { waiter.resume(with: result) }
        logger.info("listening", metadata: ["listener": "\(name)", "address": "\(host):\(bound)"])
        if stopNow { quiesce(quiescing) }

        await withDiscardingTaskGroup { group in
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    // Ends once every connection has closed (after `shutdown()`), or at cancellation.
                    for await job in requests {
                        group.addTask { await self.answer(job) }
                    }
                } onGracefulShutdown: {
                    self.shutdown()
                }
            } onCancel: {
                self.shutdown()
            }
        }
    }

    /// Stops accepting; idle connections close now, busy ones after their response; then `run()` returns.
    func shutdown() {
        let quiescing = lifecycle.withLock { $0.stop() }
        if let quiescing { quiesce(quiescing) }
    }

    private func quiesce(_ quiescing: ServerQuiescingHelper) {
        let closed = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: closed)
        let submit = self.submit
        closed.futureResult.whenComplete { _ in submit.finish() }
    }

    /// Whether requests arrive over plain HTTP or through TLS.
    var scheme: RequestScheme { tls == nil ? .http : .https }

    private func bootstrap(_ quiescing: ServerQuiescingHelper) -> ServerBootstrap {
        let limits = self.limits
        let tls = self.tls
        let counters = self.counters
        // One object all connections share: a connection's dispatcher holds one reference, not a closure of its own.
        let submit = self.submit
        let target = DispatchTarget(connections: connections, logger: logger, scheme: scheme) { job in
            if case .terminated = submit.yield(job) { return false }
            return true
        }
        return ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            // Requests are a few hundred bytes: a small first read buffer, grown when a read fills it.
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        guard try Self.startTLS(tls, on: channel, counters: counters) else { return }
                    }
                    try channel.pipeline.syncOperations.addHandler(ConnectionGate())
                    // `RequestDispatcher` answers protocol errors: it knows whether a refusal is on its way.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: false
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionGuard(idleTimeout: limits.idleTimeout, requestTimeout: limits.requestTimeout)
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        RequestDispatcher(target: target)
                    )
                }
            }
    }

    /// The head of a TLS connection's pipeline: the TLS handler with the context of now and the handshake deadline.
    /// Without a certificate the connection is refused at once (returns false: nothing else is added).
    private static func startTLS(_ tls: TLS, on channel: any Channel, counters: EngineCounters?) throws -> Bool {
        let failed: @Sendable (HandshakeFailure) -> Void = { counters?.handshakeFailed($0) }
        guard let context = tls.certificates.context else {
            try channel.pipeline.syncOperations.addHandler(RefusedHandshake(failed: failed))
            return false
        }
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        try channel.pipeline.syncOperations.addHandler(HandshakeDeadline(timeout: tls.handshakeTimeout, failed: failed))
        return true
    }

    /// Answers one request in the listener's task group; the connection closes afterwards when it must.
    private func answer(_ job: RequestJob) async {
        let channel = job.channel
        let keepAlive = await withTaskCancellationHandler {
            await responder.respond(
                to: job.head,
                client: job.client,
                scheme: job.scheme,
                writer: ResponseWriter(channel: channel, copier: job.scheme == .https ? tls?.disk : nil)
            )
        } onCancel: {
            // The grace period is over: the response is cut.
            channel.close(promise: nil)
        }
        // Every byte of the answer has left: a stopping listener may close the connection now.
        channel.triggerUserOutboundEvent(ConnectionGate.Request.ended, promise: nil)
        if job.closeAfter || !keepAlive || !job.head.isKeepAlive {
            try? await channel.close()
        }
    }
}

/// One complete request, handed from a connection's handlers to the listener's task group.
struct RequestJob: Sendable {
    var head: HTTPRequestHead
    var channel: any Channel
    var client: String
    var scheme: RequestScheme
    /// Answered from its head (it announced a body): the connection closes after the answer.
    var closeAfter: Bool
}

/// The listener's life as a value: binding, the port's waiters, stopping. Decides; the listener acts.
struct ListenerLifecycle {
    typealias Waiter = CheckedContinuation<Int, any Error>

    private enum Phase {
        case starting(stopRequested: Bool)
        case listening(port: Int, quiescing: ServerQuiescingHelper)
        case stopping(port: Int)
        case failed(EngineError)
    }

    private var phase = Phase.starting(stopRequested: false)
    private var waiters: [Int: Waiter] = [:]
    private var nextID = 0

    mutating func newWaiterID() -> Int {
        nextID += 1
        return nextID
    }

    /// The bound port or the failure once binding ended; `nil` while starting.
    var outcome: Result<Int, any Error>? {
        switch phase {
        case .listening(let port, _), .stopping(let port): .success(port)
        case .failed(let error): .failure(error)
        case .starting: nil
        }
    }

    /// The port at once when known, or `nil` with the waiter kept until binding ends.
    mutating func waitForPort(id: Int, _ waiter: Waiter) -> Result<Int, any Error>? {
        if let outcome { return outcome }
        waiters[id] = waiter
        return nil
    }

    /// A waiter whose task was cancelled, to resume with `CancellationError`; `nil` when it was already resumed.
    mutating func cancelWaiter(id: Int) -> Waiter? {
        waiters.removeValue(forKey: id)
    }

    /// Bound: the waiters to resume, and whether a stop was asked for meanwhile.
    mutating func bound(port: Int, quiescing: ServerQuiescingHelper) -> ([(Waiter, Result<Int, any Error>)], Bool) {
        guard case .starting(let stopRequested) = phase else { return ([], false) }
        phase = stopRequested ? .stopping(port: port) : .listening(port: port, quiescing: quiescing)
        return (takeWaiters(.success(port)), stopRequested)
    }

    mutating func bindFailed(_ error: EngineError) -> [(Waiter, Result<Int, any Error>)] {
        phase = .failed(error)
        return takeWaiters(.failure(error))
    }

    /// Asks to stop; returns the quiescing helper to start when the listener is bound and not yet stopping.
    mutating func stop() -> ServerQuiescingHelper? {
        switch phase {
        case .starting:
            phase = .starting(stopRequested: true)
            return nil
        case .listening(let port, let quiescing):
            phase = .stopping(port: port)
            return quiescing
        case .stopping, .failed:
            return nil
        }
    }

    private mutating func takeWaiters(_ result: Result<Int, any Error>) -> [(Waiter, Result<Int, any Error>)] {
        defer { waiters.removeAll() }
        return waiters.values.map { ($0, result) }
    }
}

/// Open connections against the cap, and the connection gauge.
final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)
    let limit: Int
    private let counters: EngineCounters?

    init(limit: Int, counters: EngineCounters?) {
        self.limit = limit
        self.counters = counters
    }

    /// Counts a new connection, or refuses it over the cap.
    func admit() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(
                expected: current,
                desired: current + 1,
                ordering: .relaxed
            )
            if exchanged {
                counters?.connectionOpened()
                return true
            }
            current = original
        }
        return false
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
        counters?.connectionClosed()
    }

    /// Connections open now.
    var count: Int { open.load(ordering: .relaxed) }
}

/// First in the pipeline, on the connection's raw bytes: the engine's own quiescing, and the start of each request's
/// deadline.
///
/// At `ChannelShouldQuiesceEvent` an idle connection closes at once and a busy one once its answer has been written
/// whole. NIO's `HTTPServerPipelineHandler` would close on the promise of the response's `.end`, which completes for
/// a `Content-Length` body before a sendfile region queued ahead of it has left: a slow reader of a stored object got
/// a short body across every stop. So the event stops here; the dispatcher counts a request in (`Request.started`)
/// and the listener counts it out once `respond` returned (`Request.ended`).
///
/// Bytes that arrive are told to `ConnectionGuard` (`BytesArrived`) before the HTTP decoder sees them, so a request's
/// deadline starts with its first byte rather than with a whole head. One handler for both: every handler costs each
/// idle connection its context and itself.
final class ConnectionGate: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// A request's start and end, sent from the pipeline's tail as outbound user events.
    enum Request: Sendable {
        case started
        case ended
    }

    /// The user event `ConnectionGuard` receives when bytes arrive.
    struct BytesArrived {}

    private var answering = 0
    private var stopping = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(BytesArrived())
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        stopping = true
        if answering == 0 { context.close(promise: nil) }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let request = event as? Request else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        // A count, not a flag: with pipelining the next request may start before the last one's end is told.
        answering += request == .started ? 1 : -1
        promise?.succeed()
        if stopping && answering == 0 { context.close(promise: nil) }
    }
}

/// What every connection's `RequestDispatcher` hands its requests to: the cap, the log and the listener's queue.
final class DispatchTarget: Sendable {
    let connections: ConnectionCount
    let logger: Logger
    let scheme: RequestScheme
    /// Hands a request to the listener's task group; false once the listener no longer takes any.
    let submit: @Sendable (RequestJob) -> Bool

    init(
        connections: ConnectionCount,
        logger: Logger,
        scheme: RequestScheme = .http,
        submit: @escaping @Sendable (RequestJob) -> Bool
    ) {
        self.connections = connections
        self.logger = logger
        self.scheme = scheme
        self.submit = submit
    }
}

/// Turns the request parts of one connection into requests for the listener's task group. With pipelining
/// assistance the next request's parts arrive only once the previous response has ended.
///
/// A head that announces a body is answered at once (the engine takes no request bodies) and the connection closes
/// after that answer: nothing after the head is read or dispatched.
final class RequestDispatcher: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let target: DispatchTarget
    private var head: HTTPRequestHead?
    private var admitted = false
    /// Set once the connection only waits to close: a request was answered from its head, or was malformed.
    private var closing = false

    init(target: DispatchTarget) {
        self.target = target
    }

    func channelActive(context: ChannelHandlerContext) {
        admitted = target.connections.admit()
        // Over the cap: closed at once, before reading anything, so the client falls back to the CDN.
        if !admitted { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            target.connections.release()
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
        context.triggerUserOutboundEvent(ConnectionGate.Request.started, promise: nil)
        let job = RequestJob(
            head: request,
            channel: channel,
            client: channel.remoteAddress?.ipAddress ?? "-",
            scheme: target.scheme,
            closeAfter: closeAfter
        )
        // A listener past its grace period takes no more requests: the client retries elsewhere.
        if !target.submit(job) { context.close(promise: nil) }
    }

    /// A malformed request gets a 400 and the connection closes, as NIO's `HTTPServerProtocolErrorHandler` does;
    /// after a request answered from its head (whose body may be what is malformed), that answer closes it instead.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let malformed = error is HTTPParserError || error is ByteToMessageDecoderError
        if closing && malformed { return }
        target.logger.debug("connection ended", metadata: ["error": "\(error)"])
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
                return
                    "cannot listen on \(address): the address is already in use; stop the other program or change the port"
            }
            return "cannot listen on \(address): \(reason)"
        case .tooManyConnections: return "connection refused: the engine is at max_connections"
        case .invalidAddress(let text): return "\(text) is not a host:port address"
        case .resources(let reason): return reason
        }
    }
}
