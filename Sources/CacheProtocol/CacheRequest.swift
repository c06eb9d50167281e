import CacheNodeCore

/// A client's request reduced to what the cache needs: the origin, the normalised path and the query to forward.
///
/// Built from the request target and the `Host` header: the origin comes from the `cacheHostOrigin`
/// query parameter, else from `Host`. The rest of the query is kept in order for the origin URL. How the origin is
/// fetched (scheme and port) is the allowlist's to say: `routed(by:)`.
package struct CacheRequest: Equatable, Sendable {
    /// The origin host, lowercased, without a trailing dot or brackets.
    package var host: String
    /// The origin port when the request named one.
    package var port: Int?
    /// The normalised path, starting with `/`, with no `.` or `..` segments and no empty segments.
    package var path: String
    /// The query without `cacheHostOrigin`, in the client's order; `nil` when nothing is left.
    package var query: String?
    /// Whether the client sent the request over TLS: such a request is never fetched over plain HTTP.
    package var arrivedOverTLS: Bool
    /// How the origin is fetched: HTTPS for a request that arrived over TLS or an origin listed as `https://`.
    package var scheme: OriginScheme
    /// The port an `https://` allowlist entry names, where the origin is fetched whatever the request named.
    package var originPort: Int?

    package init(
        host: String,
        port: Int? = nil,
        path: String,
        query: String? = nil,
        arrivedOverTLS: Bool = false,
        scheme: OriginScheme? = nil,
        originPort: Int? = nil
    ) {
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.arrivedOverTLS = arrivedOverTLS
        self.scheme = scheme ?? (arrivedOverTLS ? .https : .http)
        self.originPort = originPort
    }

    /// The port the origin is fetched on: the allowlist entry's, the request's, else 80 or 443.
    package var effectivePort: Int { originPort ?? port ?? scheme.defaultPort }

    /// `host` or `host:port` as the client named it, brackets around an IPv6 address.
    package var authority: String {
        port.map { "\(bracketedHost):\($0)" } ?? bracketedHost
    }

    /// `host` or `host:port` as the origin is fetched: the `Host` field sent to it.
    package var originAuthority: String {
        effectivePort == scheme.defaultPort ? bracketedHost : "\(bracketedHost):\(effectivePort)"
    }

    private var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    /// The path and query sent to the origin.
    package var originTarget: String { query.map { "\(path)?\($0)" } ?? path }

    /// `http://` or `https://<origin><path>?<query>`: what a miss fetches.
    package var originURL: String { "\(scheme.rawValue)://\(originAuthority)\(originTarget)" }

    /// The identity of the cached object: one URL, one object. It holds no scheme: an origin is fetched one way, the
    /// allowlist's, however the request arrived (a request over TLS for a plain-HTTP origin is refused).
    package var cacheKey: String { "\(authority)\(originTarget)" }

    /// The request with the scheme and port its allowlist entry gives the origin.
    package func routed(by allowlist: OriginAllowlist) -> CacheRequest {
        var routed = self
        switch allowlist.listing(host, port: port) {
        case .https(let port):
            routed.scheme = .https
            routed.originPort = port
        case .plain, .httpsElsewhere, .unlisted:
            routed.scheme = arrivedOverTLS ? .https : .http
            routed.originPort = nil
        }
        return routed
    }
}

extension CacheRequest {
    /// The query parameter that names the origin in the Delivery Optimization protocol.
    package static let originParameter = "cachehostorigin"

    /// Parses a request target (`/path?query` or `http://host/path?query`) and the `Host` header, which must name
    /// the same origin as an absolute-form target. `arrivedOverTLS`: the client sent it over TLS (port 443 is then
    /// the default port, as 80 is for plain HTTP).
    package static func parse(
        target: String,
        hostHeader: String?,
        arrivedOverTLS: Bool = false
    ) throws(RequestError) -> CacheRequest {
        // RFC 9112: a request target holds no white space or control characters; none may reach the origin.
        guard !target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw .badTarget("the request target holds white space or control characters")
        }
        if let hostHeader, hostHeader.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw .badOrigin("the Host header holds control characters")
        }
        var target = Substring(target)
        var authorityFromTarget: Substring?
        if target.lowercased().hasPrefix("http://") {
            let rest = target.dropFirst("http://".count)
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            authorityFromTarget = rest[..<end]
            target = rest[end...]
            if target.isEmpty || target.first == "?" { target = "/" + target }
        }
        // RFC 9112 3.2.2: an absolute-form target names the origin; a Host header that names another one would make
        // two readers of this request (a proxy in front, the engine) disagree on where it goes.
        if let authorityFromTarget, let hostHeader {
            let fromTarget = try parseAuthority(String(authorityFromTarget))
            guard !hostHeader.isEmpty, try parseAuthority(hostHeader) == fromTarget else {
                throw .badOrigin("the Host header \(quoted(hostHeader)) disagrees with the request target")
            }
        }
        guard target.first == "/" else { throw .badTarget("the request target must start with /") }
        if target.contains("#") { throw .badTarget("the request target holds a fragment") }
        let pathPart: Substring
        let queryPart: Substring?
        if let mark = target.firstIndex(of: "?") {
            pathPart = target[..<mark]
            queryPart = target[target.index(after: mark)...]
        } else {
            pathPart = target
            queryPart = nil
        }
        let path = try normalisePath(pathPart)
        var origin: String?
        var kept: [Substring] = []
        if let queryPart {
            for parameter in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
                let name = parameter.prefix { $0 != "=" }
                guard let decodedName = percentDecode(name), decodedName.lowercased() == originParameter else {
                    kept.append(parameter)
                    continue
                }
                let value = parameter.dropFirst(name.count + (parameter.count > name.count ? 1 : 0))
                guard let decoded = percentDecode(value) else { throw .badOrigin("cacheHostOrigin is not valid UTF-8") }
                if let origin, origin.lowercased() != decoded.lowercased() {
                    throw .badOrigin("cacheHostOrigin appears twice with different values")
                }
                origin = decoded
            }
        }
        let named = origin ?? authorityFromTarget.map(String.init) ?? hostHeader
        guard let named, !named.isEmpty else {
            throw .missingOrigin
        }
        let (host, port) = try parseAuthority(named)
        return CacheRequest(
            host: host,
            port: arrivedOverTLS && port == 443 ? nil : port,
            path: path,
            query: kept.isEmpty ? nil : kept.joined(separator: "&"),
            arrivedOverTLS: arrivedOverTLS
        )
    }

    /// Splits `host[:port]` or `[v6][:port]`, refusing userinfo, paths and anything not a host name or address.
    package static func parseAuthority(_ text: String) throws(RequestError) -> (String, Int?) {
        if text.contains("@") { throw .badOrigin("the origin \(quoted(text)) holds user information") }
        if text.contains(where: { "/\\?#% \t".contains($0) || !$0.isASCII || $0.isNewline }) {
            throw .badOrigin("the origin \(quoted(text)) is not a host name")
        }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .badOrigin("the origin \(quoted(text)) is not a host name")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw .badOrigin("the origin \(quoted(text)) is not a host name") }
                portText = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard text.firstIndex(of: ":") == colon else {
                throw .badOrigin("the origin \(quoted(text)) is not a host name")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = Substring(text)
        }
        var port: Int?
        if let portText {
            guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let number = Int(portText), (1...65535).contains(number)
            else { throw .badOrigin("the origin \(quoted(text)) has an invalid port") }
            port = number
        }
        var name = host.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty else { throw .badOrigin("the origin is empty") }
        return (name, port == 80 ? nil : port)
    }

    /// Decodes `%2e`, collapses `//`, refuses `.`/`..` segments, encoded slashes, backslashes, NULs and double encodings.
    package static func normalisePath(_ path: Substring) throws(RequestError) -> String {
        var segments: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            let lowered = raw.lowercased()
            for forbidden in ["%2f", "%5c", "%00", "\\"] where lowered.contains(forbidden) {
                throw .badPath("the path holds an encoded slash, a backslash or a NUL")
            }
            var segment = String(raw)
            if lowered.contains("%2e") {
                segment = segment.replacingAll("%2e", with: ".").replacingAll("%2E", with: ".")
            }
            if segment == "." || segment == ".." {
                throw .badPath("the path holds a . or .. segment")
            }
            guard let decoded = percentDecode(Substring(segment)) else {
                throw .badPath("the path holds a malformed percent-encoding")
            }
            // An origin or proxy that decodes twice would see these as a traversal or a header break.
            let decodedLowered = decoded.lowercased()
            if ["%2e", "%2f", "%5c", "%00"].contains(where: { decodedLowered.contains($0) })
                || decoded.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
            {
                throw .badPath("the path holds a double-encoded dot, slash or backslash, or a control character")
            }
            segments.append(segment)
        }
        let joined = "/" + segments.joined(separator: "/")
        return path.hasSuffix("/") && !segments.isEmpty ? joined + "/" : joined
    }

    /// Decodes `%XX` escapes and `+` is kept; `nil` for a malformed escape or invalid UTF-8.
    package static func percentDecode(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func quoted(_ text: String) -> String {
        "\"" + String(text.prefix(80)).filter { $0.isASCII && !$0.isNewline } + "\""
    }
}

extension String {
    /// The text with every occurrence of `target` replaced.
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Why a request cannot be served; answered with 400.
package enum RequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingOrigin
    case badOrigin(String)
    case badPath(String)
    case badTarget(String)

    package var description: String {
        switch self {
        case .missingOrigin: "no origin: add cacheHostOrigin=<host> to the query or send a Host header"
        case .badOrigin(let reason), .badPath(let reason), .badTarget(let reason): reason
        }
    }
}
