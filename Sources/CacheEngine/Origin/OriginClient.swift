import CacheProtocol
import AsyncHTTPClient
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Fetches from origins over HTTP/1.1 with a keep-alive pool, the configured timeouts and the upstream proxy.
package final class OriginClient: Sendable {
    private let client: HTTPClient
    /// Set when an upstream proxy is configured: requests go to it in absolute form (no CONNECT tunnel).
    private let forward: ForwardProxyClient?
    /// With a proxy, the proxy resolves names; without one, the client connects to the checked address.
    package let usesProxy: Bool

    package init(
        connectTimeout: TimeAmount,
        readTimeout: TimeAmount,
        proxy: ProxyURL?,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: readTimeout),
            decompression: .disabled
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
        usesProxy = proxy != nil
        forward = proxy.map {
            ForwardProxyClient(
                proxy: $0,
                connectTimeout: connectTimeout,
                readTimeout: readTimeout,
                eventLoopGroup: eventLoopGroup
            )
        }
    }

    /// Sends `GET` (or `HEAD`) for the request's origin URL with `Accept-Encoding: identity`; `address` pins the
    /// connection to a checked address.
    package func send(
        _ request: CacheRequest,
        address: IPAddress?,
        method: HTTPMethod = .GET,
        headers extra: [(String, String)]
    ) async throws(OriginFailure) -> HTTPClientResponse {
        var url = request.originURL
        if let address, !usesProxy {
            let host = address.isIPv4 ? address.description : "[\(address)]"
            url = "http://\(host):\(request.effectivePort)\(request.originTarget)"
        }
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = method
        outgoing.headers.add(name: "Host", value: request.authority)
        // Without Accept-Encoding any coding is acceptable (RFC 9110 12.5.3); the cache keeps identity bytes only.
        outgoing.headers.add(name: "Accept-Encoding", value: "identity")
        for (name, value) in extra where name.lowercased() != "accept-encoding" {
            outgoing.headers.add(name: name, value: value)
        }
        let execute: @Sendable () async throws -> HTTPClientResponse
        if let forward {
            let headers = outgoing.headers
            execute = { try await forward.execute(method: method, url: request.originURL, headers: headers) }
        } else {
            execute = { [client, outgoing] in try await client.execute(outgoing, deadline: .now() + .hours(1)) }
        }
        // The origin closes idle kept-alive connections when its keep-alive timeout ends, often all of them at once;
        // a request that went out on one gets nothing back. GET and HEAD are idempotent, so the request goes out
        // again, on the next pooled connection or a new one: each failed try takes one dead connection out of the
        // pool, and the last tries are on new connections.
        var attempt = 1
        while true {
            do {
                return try await execute()
            } catch  where Self.isStaleConnection(error) && attempt < Self.staleConnectionAttempts {
                attempt += 1
            } catch {
                throw Self.failure(error)
            }
        }
    }

    /// Tries of one request whose kept-alive connections turn out closed before it fails.
    static let staleConnectionAttempts = 8

    /// Whether a request failed because its connection closed before any of the response arrived.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let clientError = error as? HTTPClientError {
            return clientError == .remoteConnectionClosed
        }
        if let channelError = error as? ChannelError {
            return channelError == .ioOnClosedChannel || channelError == .outputClosed || channelError == .eof
        }
        if let ioError = error as? IOError {
            return ioError.errnoCode == ECONNRESET || ioError.errnoCode == EPIPE
        }
        return false
    }

    /// Maps client, channel and timeout errors to an `OriginFailure`.
    package static func failure(_ error: any Error) -> OriginFailure {
        if let failure = error as? OriginFailure { return failure }
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout: return .timeout
            case .remoteConnectionClosed: return .shortBody
            default: return .unreachable("\(clientError)")
            }
        }
        if error is ChannelError { return .unreachable("\(error)") }
        if error is CancellationError { return .unreachable("cancelled") }
        return .unreachable("\(error)")
    }

    package func shutdown() async {
        guard
            shutDown.withLock({ state in
                defer { state = true }; return !state
            })
        else { return }
        forward?.shutdown()
        try? await client.shutdown()
    }

    private let shutDown = Mutex(false)

    deinit {
        // An engine that never ran (or failed to start) still releases its connection pool.
        if !shutDown.withLock({ $0 }) { client.shutdown { _ in } }
    }
}

/// Resolves origin names so the policy can check the addresses before the engine connects.
package protocol HostResolver: Sendable {
    /// The addresses of `host`, or why there are none (`OriginFailure.unreachable`: the client gets a 502).
    func resolve(_ host: String, port: Int) async -> Result<[IPAddress], OriginFailure>
}

/// `getaddrinfo` on NIO's blocking thread pool, answers kept for 30 seconds (hits must not wait for DNS).
package final class SystemResolver: HostResolver {
    private let cache = Mutex<[String: (addresses: [IPAddress], expires: NIODeadline)]>([:])

    package init() {}

    package func resolve(_ host: String, port: Int) async -> Result<[IPAddress], OriginFailure> {
        if let literal = IPAddress(host) { return .success([literal]) }
        let now = NIODeadline.now()
        if let cached = cache.withLock({ $0[host] }), cached.expires > now { return .success(cached.addresses) }
        let result = await lookup(host, port: port)
        if case .success(let addresses) = result {
            cache.withLock { table in
                if table.count > 10_000 { table.removeAll() }
                table[host] = (addresses, now + .seconds(30))
            }
        }
        return result
    }

    private func lookup(_ host: String, port: Int) async -> Result<[IPAddress], OriginFailure> {
        let result = try? await NIOThreadPool.singleton.runIfActive { () -> Result<[IPAddress], OriginFailure> in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
                return .failure(.unresolvable("cannot resolve \(host) (\(reason))"))
            }
            defer { freeaddrinfo(list) }
            var addresses: [IPAddress] = []
            var current: UnsafeMutablePointer<addrinfo>? = first
            while let info = current {
                if let address = SocketAddressText.address(of: info.pointee.ai_addr), let parsed = IPAddress(address),
                    !addresses.contains(parsed)
                {
                    addresses.append(parsed)
                }
                current = info.pointee.ai_next
            }
            return addresses.isEmpty
                ? .failure(.unresolvable("cannot resolve \(host) (no address)")) : .success(addresses)
        }
        return result ?? .failure(.unresolvable("cannot resolve \(host) (the engine is stopping)"))
    }
}

enum SocketAddressText {
    static func address(of pointer: UnsafeMutablePointer<sockaddr>?) -> String? {
        guard let pointer else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            var address = pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        case AF_INET6:
            var address = pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        default:
            return nil
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
