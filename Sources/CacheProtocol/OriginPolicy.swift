import CacheNodeCore

/// Decides whether the engine may fetch from an origin: the allowlist, address scopes and loops to itself.
///
/// Two steps: `check(_:)` on the name before any DNS query, then `check(_:resolved:)` on the addresses
/// the name resolves to. Hosts the operator listed in `extra_origins` skip the address-scope rule.
package struct OriginPolicy: Sendable {
    package var allowlist: OriginAllowlist
    /// The engine's own listener; a request that would reach it again is refused.
    package var listen: ListenAddress?

    package init(allowlist: OriginAllowlist, listen: ListenAddress?) {
        self.allowlist = allowlist
        self.listen = listen
    }

    package enum Decision: Equatable, Sendable {
        case allow
        /// Refused with 403 and this one-line reason.
        case refuse(String)
    }

    /// The checks that need no DNS: address forms, the allowlist and loops to the engine's own address.
    package func check(_ request: CacheRequest) -> Decision {
        let host = request.host
        if let address = IPAddress(host) {
            guard allowlist.isExplicit(host) else {
                return .refuse("origin \(host) is an IP address, which is refused unless listed in extra_origins")
            }
            if loopsToSelf(address, port: request.effectivePort) {
                return .refuse("origin \(request.authority) is this cache itself")
            }
            return .allow
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
        return .allow
    }

    /// The check after DNS: every address must be public unless the host was listed explicitly. A name that does
    /// not resolve is no policy matter (the engine answers 502), so `addresses` is never empty.
    package func check(_ request: CacheRequest, resolved addresses: [IPAddress]) -> Decision {
        for address in addresses {
            if loopsToSelf(address, port: request.effectivePort) {
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

    /// Whether an address and port reach the engine's own listener.
    private func loopsToSelf(_ address: IPAddress, port: Int) -> Bool {
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
