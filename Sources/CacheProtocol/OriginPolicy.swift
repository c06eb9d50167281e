import CacheNodeCore

/// Decides whether the engine may fetch from an origin: the allowlist, the scheme, address scopes and loops to itself.
///
/// Two steps: `check(_:)` on the name before any DNS query, then `check(_:resolved:)` on the addresses
/// the name resolves to. Hosts the operator listed in `extra_origins` skip the address-scope rule.
package struct OriginPolicy: Sendable {
    package var allowlist: OriginAllowlist
    /// The engine's own listener; a request that would reach it again is refused.
    package var listen: ListenAddress?
    /// The engine's TLS listener, for the same rule on origins fetched over HTTPS.
    package var secureListen: ListenAddress?

    package init(allowlist: OriginAllowlist, listen: ListenAddress?, secureListen: ListenAddress? = nil) {
        self.allowlist = allowlist
        self.listen = listen
        self.secureListen = secureListen
    }

    package enum Decision: Equatable, Sendable {
        case allow
        /// Refused with 403 and this one-line reason.
        case refuse(String)
    }

    /// The checks that need no DNS: address forms, the allowlist and its scheme, and loops to the engine's own address.
    package func check(_ request: CacheRequest) -> Decision {
        let host = request.host
        if let address = IPAddress(host) {
            guard allowlist.isExplicit(host) else {
                return .refuse("origin \(host) is an IP address, which is refused unless listed in extra_origins")
            }
            if loopsToSelf(address, request.routed(by: allowlist)) {
                return .refuse("origin \(request.authority) is this cache itself")
            }
            return checkScheme(request)
        }
        if Self.looksNumeric(host) {
            return .refuse("origin \(host) is an IP address in a non-standard form")
        }
        guard OriginAllowlist.isValidHostName(host) else {
            return .refuse("origin \(host) is not a valid host name")
        }
        guard allowlist.allows(host) else {
            return .refuse("origin \(host) is not on the origin allowlist")
        }
        return checkScheme(request)
    }

    /// A request that arrived over TLS is never fetched over plain HTTP: its origin must be listed as `https://`.
    /// An origin listed as `https://` only at another port than the request names is refused too.
    private func checkScheme(_ request: CacheRequest) -> Decision {
        switch allowlist.listing(request.host, port: request.port) {
        case .https:
            return .allow
        case .plain where request.arrivedOverTLS:
            return .refuse(
                "origin \(request.host) is fetched over plain HTTP, and a request that arrived over TLS never is: "
                    + "list it as https://\(request.host) to serve it over TLS"
            )
        case .plain:
            return .allow
        case .httpsElsewhere(let entry):
            return .refuse("origin \(request.authority) is listed as \(entry) only")
        case .unlisted:
            return .refuse("origin \(request.host) is not on the origin allowlist")
        }
    }

    /// The check after DNS: every address must be public unless the host was listed explicitly. A name that does
    /// not resolve is no policy matter (the engine answers 502), so `addresses` is never empty.
    package func check(_ request: CacheRequest, resolved addresses: [IPAddress]) -> Decision {
        let routed = request.routed(by: allowlist)
        for address in addresses {
            if loopsToSelf(address, routed) {
                return .refuse("origin \(request.authority) resolves to this cache itself")
            }
            if allowlist.isExplicit(request.host) { continue }
            let scope = address.scope
            if scope != .global {
                return .refuse("origin \(request.host) resolves to a \(scope.rawValue) address (\(address))")
            }
        }
        return .allow
    }

    /// Whether a fetch of `routed` from `address` reaches the engine's own listener of that scheme.
    private func loopsToSelf(_ address: IPAddress, _ routed: CacheRequest) -> Bool {
        loopsToSelf(address, port: routed.effectivePort, listen: routed.scheme == .https ? secureListen : listen)
    }

    /// Whether an address and port reach the listener `listen`.
    private func loopsToSelf(_ address: IPAddress, port: Int, listen: ListenAddress?) -> Bool {
        guard let listen, port == listen.port, let own = listen.address else { return false }
        let target = address.mappedIPv4 ?? address
        if target == own { return true }
        // A wildcard listener answers on loopback and on every local address.
        return own.scope == .unspecified && (target.scope == .loopback || target.scope == .unspecified)
    }

    /// Decimal (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f.1`) or shortened (`127.1`) IPv4 forms.
    package static func looksNumeric(_ host: String) -> Bool {
        guard let last = host.split(separator: ".").last else { return false }
        if last.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        let lowered = last.lowercased()
        return lowered.hasPrefix("0x") && lowered.dropFirst(2).allSatisfy(\.isHexDigit)
    }
}
