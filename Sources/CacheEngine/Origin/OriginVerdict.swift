import CacheProtocol
import NIOHTTP1

/// What the cache does with an origin response head: store it, pass it through, or fail.
package enum OriginVerdict: Equatable, Sendable {
    /// Cacheable content; the body starts at byte `bodyStart` of the object.
    case cacheable(ObjectMetadata, bodyStart: Int64)
    /// 3xx, 4xx, `no-store`/`private`, no length, `Vary`, a content coding: relayed to the client, never stored.
    case uncacheable(OriginAnswer.RelayReason)
    case failure(OriginFailure)

    /// Classifies a response to a request for bytes from `requestedStart`, against the stored copy if any.
    package static func classify(
        status: Int,
        headers: HTTPHeaders,
        key: String,
        blockSize: Int,
        requestedStart: Int64,
        known: ObjectMetadata?
    ) -> OriginVerdict {
        switch OriginAnswer.classify(status: status, headers: headers.fields, requestedStart: requestedStart) {
        case .unusable(let reason):
            return .failure(OriginFailure(reason))
        case .relay(let reason):
            return .uncacheable(reason)
        case .object(let object, let bodyStart):
            let meta = ObjectMetadata(key: key, object: object, blockSize: blockSize)
            if let known, !known.sameContent(as: meta) { return .failure(.changed) }
            return .cacheable(meta, bodyStart: bodyStart)
        }
    }
}

extension OriginFailure {
    init(_ reason: OriginAnswer.Unusable) {
        switch reason {
        case .status(let code): self = .status(code)
        case .proxyAuthentication: self = .proxyAuthentication
        case .transferCoding(let coding): self = .invalidResponse("Transfer-Encoding: \(coding)")
        case .encodedRange(let coding):
            self = .invalidResponse(
                "Content-Encoding: \(coding) in answer to a range; ranges are of identity bytes only"
            )
        case .invalid(let text): self = .invalidResponse(text)
        }
    }
}

extension HTTPHeaders {
    /// The field lines as name and value pairs, for the protocol decisions.
    var fields: [(name: String, value: String)] { map { ($0.name, $0.value) } }
}
