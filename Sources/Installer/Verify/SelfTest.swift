import CacheNodeCore

/// The validation request of the Delivery Optimization protocol, sent through the engine.
package struct SelfTest: Sendable {
    /// The origin Windows clients use for the validation request.
    package static let defaultOrigin = "au.download.windowsupdate.com"
    package static let path = "/mscomtest/wuidt.gif"

    package enum Outcome: Equatable, Sendable {
        /// 200, `image/gif`, a GIF body of this many bytes.
        case passed(bytes: Int)
        /// The engine answered fast with 502/504: it works, but cannot reach the origin.
        case originUnreachable(status: Int, reason: String)
        case failed(reason: String)
    }

    package var listen: ListenAddress
    /// `host` or `host:port` named in `cacheHostOrigin`.
    package var origin: String

    package init(listen: ListenAddress, origin: String = SelfTest.defaultOrigin) {
        self.listen = listen
        self.origin = origin
    }

    package func run(timeoutSeconds: Int = 20) -> Outcome {
        let target = HTTPProbe.target(for: listen)
        let response: HTTPProbe.Response
        do {
            response = try HTTPProbe.get(
                target,
                path: "\(Self.path)?cacheHostOrigin=\(origin)",
                headers: [("User-Agent", "Microsoft-Delivery-Optimization/10.0")],
                timeoutSeconds: timeoutSeconds
            )
        } catch {
            return .failed(reason: "GET \(Self.path) on \(target): \(error)")
        }
        switch response.status {
        case 200:
            let type = response.header("Content-Type") ?? "none"
            guard type.lowercased().hasPrefix("image/gif") else {
                return .failed(reason: "200 with Content-Type \(type), expected image/gif")
            }
            guard response.body.starts(with: Array("GIF8".utf8)) else {
                return .failed(reason: "200 with \(response.body.count) bytes that are not a GIF")
            }
            return .passed(bytes: response.body.count)
        case 502, 504:
            let reason =
                String(decoding: response.body.prefix(200), as: UTF8.self)
                .split(separator: "\n").first.map(String.init) ?? ""
            return .originUnreachable(status: response.status, reason: reason)
        default:
            let reason =
                String(decoding: response.body.prefix(200), as: UTF8.self)
                .split(separator: "\n").first.map(String.init) ?? ""
            return .failed(reason: "the engine answered \(response.status) \(reason)")
        }
    }
}

extension SelfTest.Outcome: CustomStringConvertible {
    package var description: String {
        switch self {
        case .passed(let bytes): "passed: 200 image/gif, \(bytes) bytes through the cache"
        case let .originUnreachable(status, reason):
            "the engine answers, but the origin is unreachable (\(status)\(reason.isEmpty ? "" : ": \(reason)"))"
        case .failed(let reason): "failed: \(reason)"
        }
    }
}
