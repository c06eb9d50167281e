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

/// An HTTP/1.1 listener: ServerBootstrap, one task per connection, keep-alive, a connection cap and timeouts.
final class HTTPListener: Sendable {
    struct Limits: Sendable {
        var maxConnections: Int
        var idleTimeout: TimeAmount
    }

    private struct State {
        var port: Int?
        var failure: EngineError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
        var shuttingDown = false
        var connections: [ObjectIdentifier: (channel: any Channel, busy: Bool)] = [:]
        var server: (any Channel)?
    }

    let host: String
    let port: Int
    let name: String
    private let limits: Limits
    private let responder: any HTTPResponder
    private let counters: EngineCounters?
    private let logger: Logger
    private let state = Mutex(State())
    private let open = OpenConnections()

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
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 4)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                            withPipeliningAssistance: true,
                            withErrorHandling: true
                        )
                        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(timeout: limits.idleTimeout))
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel
                        )
                    }
                }
        } catch {
            let failure = EngineError.bindFailed(address: "\(host):\(port)", reason: "\(error)")
            report(.failure(failure))
            throw failure
        }
        let bound = server.channel.localAddress?.port ?? port
        let stopNow = state.withLock { state in
            state.server = server.channel
            return state.shuttingDown
        }
        if stopNow { server.channel.close(promise: nil) }
        report(.success(bound))
        logger.info("listening", metadata: ["listener": "\(name)", "address": "\(host):\(bound)"])

        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
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
            return (state.server, state.connections.values.filter { !$0.busy }.map(\.channel))
        }
        server?.close(promise: nil)
        for channel in idle { channel.close(promise: nil) }
    }

    private var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    private func mark(_ channel: any Channel, busy: Bool?) -> Bool {
        state.withLock { state in
            let id = ObjectIdentifier(channel)
            if let busy { state.connections[id] = (channel, busy) } else { state.connections[id] = nil }
            return state.shuttingDown
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        let count = open.value.wrappingAdd(1, ordering: .relaxed).newValue
        defer { open.value.wrappingSubtract(1, ordering: .relaxed) }
        guard count <= limits.maxConnections else {
            // Over the cap: close at once, before reading anything, so the client falls back to the CDN.
            try? await channel.close()
            return
        }
        counters?.connectionOpened()
        defer { counters?.connectionClosed() }
        if mark(channel, busy: false) {
            try? await channel.close()
            return
        }
        defer { _ = mark(channel, busy: nil) }
        let client = channel.remoteAddress?.ipAddress ?? "-"
        await withTaskCancellationHandler {
            do {
                try await connection.executeThenClose { inbound, _ in
                    var head: HTTPRequestHead?
                    for try await part in inbound {
                        switch part {
                        case .head(let received):
                            head = received
                            _ = mark(channel, busy: true)
                        case .body:
                            continue
                        case .end:
                            guard let request = head else { continue }
                            head = nil
                            let writer = ResponseWriter(channel: channel)
                            let keepAlive = await responder.respond(to: request, client: client, writer: writer)
                            let shuttingDown = mark(channel, busy: false)
                            if !keepAlive || !request.isKeepAlive || shuttingDown || !channel.isActive { return }
                        }
                    }
                }
            } catch {
                logger.debug("connection ended", metadata: ["error": "\(error)"])
            }
        } onCancel: {
            channel.close(promise: nil)
        }
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

/// The number of open connections, counted at accept for the connection cap.
final class OpenConnections: Sendable {
    let value = Atomic<Int>(0)
}
