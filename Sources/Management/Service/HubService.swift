import CacheNodeCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The hub as an HTTP/JSON service, so nodes on other machines enrol and report to it.
///
/// `GET /health`; with the admin token: `GET|POST /v1/hubs`, `GET|POST /v1/hubs/{hub}/nodes`, `GET /v1/fleet`,
/// `GET /v1/issues`, and the pages `GET /` (the fleet) and `GET /node/{hub}/{node}` (the token also as `?token=`, for a
/// browser, which then keeps it in a cookie for the pages only); with a one-time key: `POST /v1/enrol`; with a node
/// token: `POST /v1/reports`. A missing or wrong token gets 401 and changes nothing.
///
/// A node that changes state, and one silent for three intervals (a sweep finds those), goes to `alerts`.
package struct HubService: Sendable {
    package var registry: Registry
    package var adminToken: String
    package var logger: Logger
    /// Request bodies larger than this are refused with 413.
    package var maximumBody = 64 * 1024
    /// The time of each request: reports are filed under it, and node states and the fleet view are as at it.
    package var clock: @Sendable () -> Date
    /// Where changes of a node's state go; `nil` sends none.
    package var alerts: AlertDispatcher?
    /// How often the service looks for nodes that went silent.
    package var sweepInterval: Duration = .seconds(10)

    package init(
        registry: Registry,
        adminToken: String,
        logger: Logger,
        alerts: AlertDispatcher? = nil,
        clock: @escaping @Sendable () -> Date = Date.init
    ) {
        self.registry = registry
        self.adminToken = adminToken
        self.logger = logger
        self.alerts = alerts
        self.clock = clock
    }

    /// Binds and serves until graceful shutdown or cancellation; `onBound` receives the bound port. With `tls`, every
    /// connection is TLS (plain HTTP is for loopback only: the caller checks).
    ///
    /// At graceful shutdown (SIGTERM in `hub serve`) it stops accepting, closes idle connections, lets each request
    /// in flight be answered, then returns; cancellation (the grace period is over) cuts what is left.
    package func run(
        host: String,
        port: Int,
        tls identity: HubIdentity? = nil,
        onBound: @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let tls = try identity?.serverContext()
        let unclaimed = UnclaimedConnections()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    let connection = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                    unclaimed.accepted(connection)
                    return connection
                }
            }
        onBound(server.channel.localAddress?.port ?? port)
        logger.info(
            "hub service listening",
            metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? "")"]
        )
        let started = clock()
        // The registry's own threads: its SQLite work never waits behind other blocking work of the process.
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        try await withThrowingDiscardingTaskGroup { background in
            if let alerts { background.addTask { await alerts.run() } }
            background.addTask { await self.sweep(notBefore: started) }
            // The connections' own group: left once every connection has ended.
            try await withThrowingDiscardingTaskGroup { connections in
                try await withGracefulShutdownHandler {
                    do {
                        try await server.executeThenClose { accepted in
                            for try await connection in accepted {
                                unclaimed.claimed(connection)
                                connections.addTask { await self.serve(connection, pool: pool) }
                            }
                        }
                    } catch {
                        await unclaimed.closeAll()
                        throw error
                    }
                    await unclaimed.closeAll()
                } onGracefulShutdown: {
                    // Ends the accept loop; the connections close as they become idle.
                    server.channel.close(promise: nil)
                }
            }
            background.cancelAll()
        }
        logger.info("hub service stopped")
    }

    /// Every `sweepInterval` until cancelled: marks nodes silent for three intervals offline and tells the alerts.
    /// Silence counts from the service's start at the earliest.
    func sweep(notBefore: Date) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: sweepInterval) } catch { return }
            sweepOnce(notBefore: notBefore)
        }
    }

    /// One look for silent nodes.
    package func sweepOnce(notBefore: Date) {
        do {
            for transition in try registry.markSilentNodesOffline(now: clock(), notBefore: notBefore) {
                changed(transition)
            }
        } catch {
            logger.error("the sweep for silent nodes failed", metadata: ["error": "\(error)"])
        }
    }

    private func changed(_ transition: HealthTransition) {
        logger.info(
            "node state changed",
            metadata: [
                "hub": "\(transition.hub)", "node": "\(transition.node)", "state": "\(transition.state.rawValue)",
                "previous": "\(transition.previous.rawValue)",
            ]
        )
        alerts?.send(transition)
    }

    private func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        pool: NIOThreadPool
    ) async {
        let busy = ConnectionBusy()
        let channel = connection.channel
        do {
            try await withGracefulShutdownHandler {
                try await answer(connection, busy: busy, pool: pool)
            } onGracefulShutdown: {
                // An idle connection closes now; a busy one after its answer.
                if busy.markStopping() { channel.close(promise: nil) }
            }
        } catch {
            logger.debug("hub connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers the requests of one connection in turn; returns after the one in flight when shutdown began.
    private func answer(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        busy: ConnectionBusy,
        pool: NIOThreadPool
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    busy.begin()
                    head = requestHead
                    body.clear()
                    tooLarge = false
                case .body(var chunk):
                    if body.readableBytes + chunk.readableBytes > maximumBody {
                        tooLarge = true
                    } else {
                        body.writeBuffer(&chunk)
                    }
                case .end:
                    guard let requestHead = head else { continue }
                    let received = Data(body.readableBytesView)
                    // The registry's work (SQLite) runs on the service's own blocking pool, off the event loops
                    // and the tasks' threads.
                    let response =
                        tooLarge
                        ? HubResponse(status: .payloadTooLarge, json: ["error": "request body too large"])
                        : try await pool.runIfActive { handle(requestHead, body: received) }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: response.contentType)
                    for (name, value) in response.headers { headers.add(name: name, value: value) }
                    headers.add(name: "Content-Length", value: "\(response.body.count)")
                    if !requestHead.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(
                        .head(HTTPResponseHead(version: requestHead.version, status: response.status, headers: headers))
                    )
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                    try await outbound.write(.end(nil))
                    if !requestHead.isKeepAlive || busy.end() { return }
                }
            }
        }
    }

    /// Routes one request; pure apart from the registry, so tests call it directly too.
    package func handle(_ head: HTTPRequestHead, body: Data) -> HubResponse {
        let now = clock()
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let query = Self.query(head.uri)
        let parts = path.split(separator: "/").map(String.init)
        let bearer = head.headers.first(name: "Authorization").flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
        }
        let isAdmin = bearer.map { Self.constantTimeEqual($0, adminToken) } ?? false
        // The pages: the header, the address's token (a browser cannot send a header when it opens an address), or the
        // cookie set when the address had it, so links between the pages need no token in the page.
        let queryToken = query["token"].map { Self.constantTimeEqual($0, adminToken) } == true
        let pageAdmin =
            isAdmin || queryToken
            || Self.cookie(head.headers, Self.cookieName).map { Self.constantTimeEqual($0, adminToken) } == true
        do {
            let route = (head.method, parts.joined(separator: "/"))
            switch route {
            case (.GET, "health"):
                return HubResponse(status: .ok, json: ["status": "ok"])
            case (.GET, ""):
                guard pageAdmin else { return .unauthorized }
                let page = FleetPage(view: try FleetView(registry: registry, now: now))
                return pageResponse(query["part"] == "main" ? page.main() : page.document(), setCookie: queryToken)
            case (.GET, _) where parts.count == 3 && parts[0] == "node":
                guard pageAdmin else { return .unauthorized }
                let hub = parts[1].removingPercentEncoding ?? parts[1]
                let node = parts[2].removingPercentEncoding ?? parts[2]
                let page = NodePage(view: try NodeView(registry: registry, hub: hub, node: node, now: now))
                return pageResponse(query["part"] == "main" ? page.main() : page.document(), setCookie: queryToken)
            case (.POST, "v1/enrol"):
                let request = try decode(EnrolRequest.self, body)
                let token = try registry.enrol(node: request.node, hub: request.hub, key: request.key)
                return HubResponse(status: .ok, json: ["token": token])
            case (.POST, "v1/reports"):
                guard let bearer else { return .unauthorized }
                let report = try decode(NodeReport.self, body)
                if let transition = try registry.record(report, token: bearer, now: now) { changed(transition) }
                return .recorded
            case (.GET, "v1/fleet"):
                guard isAdmin else { return .unauthorized }
                return try HubResponse(status: .ok, encodable: FleetView(registry: registry, now: now))
            case (.GET, "v1/issues"):
                guard isAdmin else { return .unauthorized }
                let limit = query["limit"].flatMap { Int($0) } ?? 1_000
                let issues = try registry.issues(
                    hub: query["hub"].flatMap { $0.isEmpty ? nil : $0 },
                    node: query["node"].flatMap { $0.isEmpty ? nil : $0 },
                    now: now,
                    limit: limit
                )
                return try HubResponse(status: .ok, encodable: issues)
            default:
                guard parts.count >= 2, parts[0] == "v1", parts[1] == "hubs" else {
                    return HubResponse(status: .notFound, json: ["error": "no such endpoint: \(head.method) \(path)"])
                }
                guard isAdmin else { return .unauthorized }
                return try handleAdmin(head.method, Array(parts.dropFirst(2)), body: body, now: now)
            }
        } catch RegistryError.badKey {
            return HubResponse(status: .unauthorized, json: ["error": RegistryError.badKey.description])
        } catch RegistryError.badToken {
            return .unauthorized
        } catch let error as RegistryError {
            switch error {
            case .noSuchHub, .noSuchNode: return HubResponse(status: .notFound, json: ["error": error.description])
            case .hubExists, .nodeExists: return HubResponse(status: .conflict, json: ["error": error.description])
            case .storage: return HubResponse(status: .internalServerError, json: ["error": error.description])
            default: return HubResponse(status: .badRequest, json: ["error": error.description])
            }
        } catch {
            return HubResponse(status: .badRequest, json: ["error": "\(error)"])
        }
    }

    private func handleAdmin(_ method: HTTPMethod, _ rest: [String], body: Data, now: Date) throws -> HubResponse {
        if rest.isEmpty, method == .GET {
            return try HubResponse(status: .ok, encodable: registry.hubs())
        }
        if rest.isEmpty, method == .POST {
            let request = try decode(NameRequest.self, body)
            return try HubResponse(status: .created, encodable: registry.createHub(request.name, now: now))
        }
        if rest.count == 2, rest[1] == "nodes", method == .GET {
            return try HubResponse(status: .ok, encodable: registry.nodes(hub: rest[0]))
        }
        if rest.count == 2, rest[1] == "nodes", method == .POST {
            let request = try decode(NameRequest.self, body)
            let key = try registry.createNode(request.name, hub: rest[0], now: now)
            return HubResponse(status: .created, json: ["node": request.name, "hub": rest[0], "enrolment_key": key])
        }
        if rest.count == 3, rest[1] == "nodes", method == .DELETE {
            try registry.deleteNode(rest[2], hub: rest[0])
            return HubResponse(status: .ok, json: ["deleted": rest[2]])
        }
        return HubResponse(status: .notFound, json: ["error": "no such endpoint"])
    }

    /// The name of the cookie that keeps the admin token for the pages.
    static let cookieName = "cachenode_hub"

    /// A page; when the address carried the token, a cookie keeps it for the links between the pages (not readable by
    /// scripts, not sent with requests from other sites).
    private func pageResponse(_ html: String, setCookie: Bool) -> HubResponse {
        var response = HubResponse(status: .ok, html: html)
        if setCookie {
            response.headers.append(
                ("Set-Cookie", "\(Self.cookieName)=\(adminToken); Path=/; HttpOnly; SameSite=Strict")
            )
        }
        response.headers.append(("Cache-Control", "no-store"))
        return response
    }

    /// The value of the cookie `name` in a request's headers.
    static func cookie(_ headers: HTTPHeaders, _ name: String) -> String? {
        for header in headers["Cookie"] {
            for pair in header.split(separator: ";") {
                let field = pair.split(separator: "=", maxSplits: 1)
                if field.count == 2, field[0].trimmingCharacters(in: .whitespaces) == name {
                    return String(field[1]).trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws -> T {
        do {
            return try HubJSON.decoder.decode(type, from: body)
        } catch {
            throw HubRequestError(problem: "the request body is not a valid \(type) JSON object")
        }
    }

    /// The query's parameters, percent-decoded; the first of a repeated name wins.
    static func query(_ uri: String) -> [String: String] {
        guard let start = uri.firstIndex(of: "?") else { return [:] }
        var parameters: [String: String] = [:]
        for pair in uri[uri.index(after: start)...].split(separator: "&") {
            let field = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            let name = decode(field[0])
            if parameters[name] == nil { parameters[name] = field.count > 1 ? decode(field[1]) : "" }
        }
        return parameters
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

struct HubRequestError: Error, CustomStringConvertible {
    var problem: String
    var description: String { problem }
}

struct EnrolRequest: Codable {
    var hub: String
    var node: String
    var key: String
}

struct NameRequest: Codable {
    var name: String
}

/// An answer of the hub service: JSON, or the fleet page's HTML.
package struct HubResponse: Sendable {
    package var status: HTTPResponseStatus
    package var contentType = "application/json"
    /// Headers besides `Content-Type` and `Content-Length`.
    package var headers: [(String, String)] = []
    package var body: [UInt8]

    init(status: HTTPResponseStatus, json: [String: String]) {
        self.status = status
        body = Array((try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data())
    }

    init<T: Encodable>(status: HTTPResponseStatus, encodable: T) throws {
        self.status = status
        body = Array(try HubJSON.encoder.encode(encodable))
    }

    init(status: HTTPResponseStatus, html: String) {
        self.status = status
        contentType = "text/html; charset=utf-8"
        body = Array(html.utf8)
    }

    static let unauthorized = HubResponse(status: .unauthorized, json: ["error": "missing or invalid token"])
    /// The answer to every report, made once: nodes send a report a minute each.
    static let recorded = HubResponse(status: .ok, json: ["recorded": "true"])
}

/// One JSON style for the hub service and its clients: ISO 8601 dates, sorted keys.
package enum HubJSON {
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Whether a hub connection is answering a request, so a graceful shutdown closes it only between requests.
final class ConnectionBusy: Sendable {
    private struct State {
        var busy = false
        var stopping = false
    }

    private let state = Mutex(State())

    func begin() { state.withLock { $0.busy = true } }

    /// A request was answered; returns whether the connection should close (shutdown began meanwhile).
    func end() -> Bool {
        state.withLock { state in
            state.busy = false
            return state.stopping
        }
    }

    /// Shutdown began; returns whether the connection is idle and may be closed now.
    func markStopping() -> Bool {
        state.withLock { state in
            state.stopping = true
            return !state.busy
        }
    }
}

/// Connections accepted and not yet taken from the accept stream.
///
/// NIO's async server hands each connection out through a stream; one accepted while the listener closes can be
/// dropped from it unseen (swift-nio issue 2813), and a dropped `NIOAsyncChannel` whose writer was never finished
/// stops the process. So each is held here from its channel initializer until the accept loop takes it, and those
/// left when accepting ends are closed properly; one whose initializer completes later than that closes itself.
final class UnclaimedConnections: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    private struct State {
        var connections: [ObjectIdentifier: Connection] = [:]
        var ended = false
    }

    private let state = Mutex(State())

    /// From the channel initializer.
    func accepted(_ connection: Connection) {
        let late = state.withLock { state -> Bool in
            guard !state.ended else { return true }
            state.connections[ObjectIdentifier(connection.channel)] = connection
            return false
        }
        if late { Task { try? await connection.executeThenClose { _, _ in } } }
    }

    /// Taken by the accept loop: its serving task closes it.
    func claimed(_ connection: Connection) {
        _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    /// Accepting has ended: closes every connection the loop never took.
    func closeAll() async {
        let left = state.withLock { state -> [Connection] in
            state.ended = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for connection in left {
                group.addTask { try? await connection.executeThenClose { _, _ in } }
            }
        }
    }
}
