import CacheProtocol

/// Why an origin fetch failed; the client gets a fast 502 or 504 and nothing is stored.
package enum OriginFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// Connection refused or reset.
    case unreachable(String)
    /// The origin's name does not resolve (`cannot resolve HOST (reason)`).
    case unresolvable(String)
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
        case .unreachable, .unresolvable, .timeout, .shortBody, .status: true
        case .changed, .invalidResponse, .proxyAuthentication: false
        }
    }

    /// The status the client gets: the origin's own 5xx, 504 for a timeout, else 502.
    package var clientStatus: Int {
        switch self {
        case .timeout: 504
        case .status(let code) where (500...599).contains(code): code
        default: 502
        }
    }

    package var description: String {
        switch self {
        case .unreachable(let reason), .unresolvable(let reason): "origin unreachable: \(reason)"
        case .timeout: "origin timed out"
        case .status(let code): "origin answered \(code)"
        case .shortBody: "origin body shorter than its length"
        case .changed: "origin content changed (ETag or length)"
        case .invalidResponse(let reason): "origin response unusable: \(reason)"
        case .proxyAuthentication:
            "the upstream proxy refused the engine (407): set or correct user:password@ in engine.upstream_proxy"
        }
    }

    /// A bounded label for metrics and health: `dns`, `connect`, `timeout`, `status`, `short_body`, `changed`,
    /// `invalid`, `proxy_auth`.
    package var shortDescription: String {
        switch self {
        case .unresolvable: "dns"
        case .unreachable: "connect"
        case .timeout: "timeout"
        case .status: "status"
        case .shortBody: "short_body"
        case .changed: "changed"
        case .invalidResponse: "invalid"
        case .proxyAuthentication: "proxy_auth"
        }
    }

    /// Every value `shortDescription` takes, so each metric series exists from the start.
    package static let shortDescriptions = [
        "dns", "connect", "timeout", "status", "short_body", "changed", "invalid", "proxy_auth",
    ]
}
