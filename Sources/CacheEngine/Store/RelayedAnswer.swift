import AsyncHTTPClient
import CacheProtocol
import NIOCore
import Synchronization

/// An origin answer that is not stored (a 404, a redirect, a 5xx, `no-store`, `Vary`, an encoded body), kept for the
/// clients that asked for it, so that a miss costs one origin request whatever the answer.
///
/// A small body is read whole and every waiting client gets it; a larger one streams to the first client that takes
/// it, and any other asks the origin itself.
package final class RelayedAnswer: Sendable {
    /// Bodies up to this size are read whole and shared.
    static let sharedBodyLimit = 64 * 1024

    package enum Body: Sendable {
        case whole(ByteBuffer)
        case stream(HTTPClientResponse.Body)
    }

    package let status: Int
    /// The end-to-end fields, without framing (`ResponseFields.relayed`).
    package let headers: [HeaderField]
    /// Why it is not stored; `nil` for a 5xx.
    package let reason: OriginAnswer.RelayReason?
    /// What a 206's body covers.
    package let contentRange: ContentRange?
    private let body: Mutex<Body?>

    init(status: Int, headers: [HeaderField], reason: OriginAnswer.RelayReason?, body: Body) {
        self.status = status
        self.headers = headers
        self.reason = reason
        let range = headers.first { $0.name.lowercased() == "content-range" }?.value
        self.contentRange = status == 206 ? range.flatMap(ContentRange.init) : nil
        self.body = Mutex(body)
    }

    /// Reads a small body whole (to share it); a larger one, or one of unknown length, is kept to stream once.
    static func read(_ response: HTTPClientResponse, reason: OriginAnswer.RelayReason?) async throws
        -> RelayedAnswer
    {
        let fields = response.headers.map { (name: $0.name, value: $0.value) }
        let length = response.headers.first(name: "content-length").flatMap(Int.init)
        let body: Body
        if let length, length <= sharedBodyLimit {
            body = .whole(try await response.body.collect(upTo: sharedBodyLimit))
        } else {
            body = .stream(response.body)
        }
        return RelayedAnswer(
            status: Int(response.status.code),
            headers: ResponseFields.relayed(fields),
            reason: reason,
            body: body
        )
    }

    /// The body: a whole one for every caller, a stream for the first caller only (`nil` for the others).
    package func takeBody() -> Body? {
        body.withLock { body in
            guard let taken = body else { return nil }
            if case .stream = taken { body = nil }
            return taken
        }
    }

    /// The content coding other than identity, if any.
    package var contentCoding: String? {
        let codings = headers.filter { $0.name.lowercased() == "content-encoding" }.flatMap {
            $0.value.split(separator: ",").map { $0.trimmingCharacters(in: " \t").lowercased() }
        }
        return codings.allSatisfy { $0 == "identity" } ? nil : codings.joined(separator: ", ")
    }
}
