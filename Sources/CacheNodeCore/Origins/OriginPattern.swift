/// How the engine fetches from an origin.
package enum OriginScheme: String, Sendable, Equatable {
    case http
    case https

    /// 80 or 443.
    package var defaultPort: Int { self == .https ? 443 : 80 }
}

/// One line of the origin allowlist: a host pattern, and for an origin fetched over TLS its scheme and port.
///
/// Written `download.windowsupdate.com`, `*.manage.microsoft.com`, `127.0.0.1`, `[::1]` for plain HTTP, or the same
/// with an `https://` prefix and an optional port (`https://*.manage.microsoft.com`, `https://127.0.0.1:8443`,
/// `https://[::1]:8443`) for an origin fetched over HTTPS. A port on an `https://` entry is where the origin is
/// fetched.
package struct OriginPattern: Sendable, Equatable, CustomStringConvertible {
    /// The host pattern, lowercased, without a trailing dot or brackets: a name, `*.name` or an IP address.
    package var host: String
    package var scheme: OriginScheme
    /// The port an `https://` entry names; plain entries name none.
    package var port: Int?

    package init(host: String, scheme: OriginScheme = .http, port: Int? = nil) {
        self.host = host
        self.scheme = scheme
        self.port = port
    }

    /// Parses one entry; the error names it and says what is wrong with it.
    package init(_ text: String) throws(OriginPatternError) {
        var rest = Substring(text)
        scheme = .http
        if let separator = rest.firstRange(of: "://") {
            guard rest[..<separator.lowerBound].lowercased() == "https" else {
                throw OriginPatternError(text, .scheme(String(rest[..<separator.lowerBound])))
            }
            scheme = .https
            rest = rest[separator.upperBound...]
        }
        if rest.contains(where: { "/?#@".contains($0) }) { throw OriginPatternError(text, .notOnlyAHost) }
        let (hostText, portText) = Self.splitPort(rest)
        if let portText {
            guard scheme == .https else { throw OriginPatternError(text, .portWithoutScheme) }
            guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let number = Int(portText), (1...65535).contains(number)
            else { throw OriginPatternError(text, .port(String(portText))) }
            port = number
        }
        guard OriginAllowlist.isValidHost(hostText) else { throw OriginPatternError(text, .host(hostText)) }
        var host = hostText.lowercased().trimmingCharacters(in: "[]")
        while host.hasSuffix(".") { host.removeLast() }
        self.host = host
    }

    /// Splits `host:port` or `[v6]:port`; an IPv6 address without brackets has no port.
    private static func splitPort(_ text: Substring) -> (host: String, port: Substring?) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let after = text[text.index(after: close)...]
            guard after.first == ":" else { return (String(text), nil) }
            return (String(text[...close]), after.dropFirst())
        }
        guard let colon = text.firstIndex(of: ":"), text.lastIndex(of: ":") == colon else { return (String(text), nil) }
        return (String(text[..<colon]), text[text.index(after: colon)...])
    }

    /// Whether the pattern is an IP address.
    package var isAddress: Bool { IPAddress(host) != nil }

    /// The entry as written in canonical form (`https://[::1]:8443`, `*.example.org`).
    package var description: String {
        let name = host.contains(":") ? "[\(host)]" : host
        guard scheme == .https else { return name }
        return "https://" + name + (port.map { ":\($0)" } ?? "")
    }
}

/// Why an allowlist entry is not one; the description quotes the entry.
package struct OriginPatternError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Problem: Sendable, Equatable {
        /// A scheme other than `https://`.
        case scheme(String)
        /// A path, query or user information after the host.
        case notOnlyAHost
        /// A port on an entry without `https://`.
        case portWithoutScheme
        /// A port that is not 1 to 65535.
        case port(String)
        /// Not a host name, wildcard or address.
        case host(String)
        /// An IP address in the shipped list (addresses are the operator's to add).
        case addressInList
    }

    package var entry: String
    package var problem: Problem

    package init(_ entry: String, _ problem: Problem) {
        self.entry = entry
        self.problem = problem
    }

    package var description: String {
        let quoted = "'\(entry.prefix(200))'"
        switch problem {
        case .scheme(let scheme):
            return "\(quoted): \(scheme):// is not a scheme the allowlist knows "
                + "(https:// for an origin fetched over TLS, no scheme for plain HTTP)"
        case .notOnlyAHost: return "\(quoted): only a host and a port may follow https://, no path or user"
        case .portWithoutScheme:
            return "\(quoted): a port is only written on an https:// entry (plain entries allow every port)"
        case .port(let text): return "\(quoted): '\(text)' is not a port from 1 to 65535"
        case .host(let host) where host == entry: return "\(quoted) is not a host name, wildcard or IP address"
        case .host(let host): return "\(quoted): '\(host)' is not a host name, wildcard or IP address"
        case .addressInList: return "\(quoted) is an IP address: addresses belong in engine.extra_origins"
        }
    }
}
