import CacheProtocol
import AsyncHTTPClient
import CacheNodeCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Fetches from origins over HTTP/1.1 with keep-alive pools, the configured timeouts and the upstream proxy; over TLS
/// for the origins the allowlist lists as `https://` (`CacheRequest.routed(by:)`).
package final class OriginClient: Sendable {
    private let client: HTTPClient
    /// Set when an upstream proxy is configured: plain requests go to it in absolute form (no CONNECT tunnel).
    private let forward: ForwardProxyClient?
    private let proxy: ProxyURL?
    /// HTTPS: connections to the checked address, or through the proxy in a `CONNECT` tunnel; the certificate is
    /// verified for the origin's name or address either way.
    private let secure: PooledConnections
    private let origins: OriginAllowlist
    /// Whether the system's CA store was found (`OriginTLS.hasSystemCAs`), for the reason of a failed HTTPS fetch.
    private let hasSystemCAs: Bool
    /// With a proxy, the proxy resolves names; without one, the client connects to the checked address.
    package let usesProxy: Bool

    /// `origins`: the allowlist that says which origins are fetched over HTTPS; `tls`: how (`OriginTLS`, by default
    /// the system's CAs alone).
    package init(
        connectTimeout: TimeAmount,
        readTimeout: TimeAmount,
        proxy: ProxyURL?,
        origins: OriginAllowlist = OriginAllowlist([]),
        tls: OriginTLS? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        // Without a CA file the system's CAs cannot fail to load; should they, HTTPS fetches fail with that reason.
        let tls = tls ?? (try? OriginTLS(caFile: nil))
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: readTimeout),
            decompression: .disabled
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
        usesProxy = proxy != nil
        self.proxy = proxy
        self.origins = origins
        hasSystemCAs = tls?.hasSystemCAs ?? false
        forward = proxy.map {
            ForwardProxyClient(
                proxy: $0,
                connectTimeout: connectTimeout,
                readTimeout: readTimeout,
                eventLoopGroup: eventLoopGroup
            )
        }
        secure = PooledConnections(
            connectTimeout: connectTimeout,
            readTimeout: readTimeout,
            tls: tls?.context,
            eventLoopGroup: eventLoopGroup
        )
    }

    /// Sends `GET` (or `HEAD`) for the request's origin URL with `Accept-Encoding: identity`; `address` pins the
    /// connection to a checked address. The allowlist decides the scheme and port; a request that arrived over TLS
    /// is never sent over plain HTTP.
    package func send(
        _ request: CacheRequest,
        address: IPAddress?,
        method: HTTPMethod = .GET,
        headers extra: [(String, String)]
    ) async throws(OriginFailure) -> HTTPClientResponse {
        let request = request.routed(by: origins)
        guard request.scheme == .https || !request.arrivedOverTLS else {
            throw .unreachable(
                "origin \(request.host) is not listed as https://, and a request over TLS is never fetched over plain HTTP"
            )
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: request.originAuthority)
        // Without Accept-Encoding any coding is acceptable (RFC 9110 12.5.3); the cache keeps identity bytes only.
        headers.add(name: "Accept-Encoding", value: "identity")
        for (name, value) in extra where name.lowercased() != "accept-encoding" {
            headers.add(name: name, value: value)
        }
        let execute = exchange(request, address: address, method: method, headers: headers)
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
                throw Self.failure(
                    error,
                    origin: "\(request.host):\(request.effectivePort)",
                    hasSystemCAs: hasSystemCAs
                )
            }
        }
    }

    /// The exchange for a routed request: plain or TLS, direct to the checked address or through the proxy.
    private func exchange(
        _ request: CacheRequest,
        address: IPAddress?,
        method: HTTPMethod,
        headers: HTTPHeaders
    ) -> @Sendable () async throws -> HTTPClientResponse {
        switch (request.scheme, forward) {
        case (.http, let forward?):
            return { try await forward.execute(method: method, url: request.originURL, headers: headers) }
        case (.http, nil):
            var url = request.originURL
            if let address {
                url = "http://\(address.isIPv4 ? address.description : "[\(address)]"):\(request.effectivePort)"
                url += request.originTarget
            }
            let outgoing = Self.outgoing(url, method: method, headers: headers)
            return { [client] in try await client.execute(outgoing, deadline: .now() + .hours(1)) }
        case (.https, _):
            let endpoint: PooledConnections.Endpoint
            if let proxy {
                // The proxy resolves the name and opens the tunnel; the certificate is verified at its end.
                let name = request.host.contains(":") ? "[\(request.host)]" : request.host
                endpoint = .init(
                    host: proxy.host,
                    port: proxy.port,
                    origin: request.host,
                    tunnel: .init(
                        target: "\(name):\(request.effectivePort)",
                        authorization: ForwardProxyClient.authorization(proxy)
                    )
                )
            } else {
                endpoint = .init(
                    host: address?.description ?? request.host,
                    port: request.effectivePort,
                    origin: request.host
                )
            }
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: request.originTarget, headers: headers)
            return { [secure] in try await secure.execute(head, at: endpoint) }
        }
    }

    private static func outgoing(_ url: String, method: HTTPMethod, headers: HTTPHeaders) -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = method
        outgoing.headers = headers
        return outgoing
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
        // A TLS connection the origin closed without close_notify.
        if let sslError = error as? NIOSSLError, case .uncleanShutdown = sslError { return true }
        return false
    }

    /// Maps client, channel, TLS and timeout errors to an `OriginFailure`; `origin` (`host:port`) names the origin in
    /// the reasons for TLS failures.
    package static func failure(_ error: any Error, origin: String? = nil, hasSystemCAs: Bool = true) -> OriginFailure {
        if let failure = error as? OriginFailure { return failure }
        if let reason = OriginTLS.reason(error, origin: origin ?? "the origin", hasSystemCAs: hasSystemCAs) {
            return .unreachable(reason)
        }
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout: return .timeout
            case .remoteConnectionClosed: return .shortBody
            default: return .unreachable("\(clientError)")
            }
        }
        if error is ChannelError { return .unreachable("\(error)") }
        // NIO's own text names the system call it came from ("connection reset (error set): ..."): say what failed.
        if let ioError = error as? IOError {
            let what = String(cString: strerror(ioError.errnoCode)).lowercased()
            return .unreachable("\(what) (errno \(ioError.errnoCode))")
        }
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
        secure.shutdown()
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
