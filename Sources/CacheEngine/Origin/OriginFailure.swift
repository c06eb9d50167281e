import CacheProtocol

/// Why an origin fetch failed; the client gets a fast 502 or 504 and nothing is stored.
package enum OriginFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// Connection refused, reset, DNS failure.
    case unreachable(String)
    /// No answer within the connect or read timeout.
    case timeout
    /// A 5xx from the origin.
    case status(Int)
    /// The body ended before its declared length.
    case shortBody
    /// The ETag or length differs from the stored copy: the old copy is dropped.
    case changed
    /// A response the cache cannot use (bad `Content-Range`, wrong start).
    case invalidResponse(String)
    /// The upstream proxy answered 407: its credentials are missing or wrong.
    case proxyAuthentication

    /// Whether asking the origin once more may succeed: the connection failed, not the content.
    package var isWorthRetrying: Bool {
        switch self {
        case .unreachable, .timeout, .shortBody, .status: true
        case .changed, .invalidResponse, .proxyAuthentication: false
        }
    }

    /// The status the client gets.
    package var clientStatus: Int {
        if case .timeout = self { return 504 }
        return 502
    }

    package var description: String {
        switch self {
        case .unreachable(let reason): "origin unreachable: \(reason)"
        case .timeout: "origin timed out"
        case .status(let code): "origin answered \(code)"
        case .shortBody: "origin body shorter than its length"
        case .changed: "origin content changed (ETag or length)"
        case .invalidResponse(let reason): "origin response unusable: \(reason)"
        case .proxyAuthentication:
            "the upstream proxy refused the engine (407): set or correct user:password@ in engine.upstream_proxy"
        }
    }
}
