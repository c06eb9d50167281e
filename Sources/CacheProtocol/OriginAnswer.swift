/// What the cache may do with an origin's response, decided from its head alone.
///
/// Only the identity bytes of one representation are the object's bytes: a response with a content coding, a
/// transfer coding other than chunked, or a `Vary` the engine does not key on is never stored, and never served as
/// the object (RFC 9110 8.4 and 12.5.3, RFC 9111 4.1).
package enum OriginAnswer: Equatable, Sendable {
    /// The object's identity bytes from `bodyStart`: they may be stored and served by range.
    case object(OriginObject, bodyStart: Int64)
    /// A response the client may have as it is, never stored.
    case relay(RelayReason)
    /// A response nobody gets: the client gets a 502 (or 504) and nothing is stored.
    case unusable(Unusable)

    /// Classifies the answer to a request for the object's bytes from `requestedStart`, sent at `requestTime` and
    /// answered at `responseTime` (seconds since 1970, for the object's freshness).
    package static func classify(
        status: Int,
        headers: [(name: String, value: String)],
        requestedStart: Int64,
        requestTime: Int64 = 0,
        responseTime: Int64 = 0
    ) -> OriginAnswer {
        let fields = Fields(headers)
        if status >= 500 { return .unusable(.status(status)) }
        // Only a proxy asks for proxy credentials; relayed, it would make the device try to log in to the cache.
        if status == 407 { return .unusable(.proxyAuthentication) }
        if let coding = fields.transferCoding { return .unusable(.transferCoding(coding)) }
        guard status == 200 || status == 206 else { return .relay(.status(status)) }
        let directives = CacheDirectives.of(headers)
        if directives.noStore || directives.isPrivate { return .relay(.noStore) }
        if let coding = fields.contentCoding { return .relay(.encoded(coding)) }
        if let vary = fields.unkeyedVary { return .relay(.varies(vary)) }
        let length: Int64
        let bodyStart: Int64
        if status == 206 {
            guard let range = fields.first("content-range"), let parsed = ContentRange(range) else {
                return .unusable(.invalid("206 without a usable Content-Range"))
            }
            guard parsed.start == requestedStart else {
                return .unusable(.invalid("206 starts at \(parsed.start), not \(requestedStart)"))
            }
            if let bodyLength = fields.first("content-length").flatMap({ Int64($0) }),
                bodyLength != parsed.end - parsed.start + 1
            {
                return .unusable(.invalid("Content-Length does not match Content-Range"))
            }
            length = parsed.total
            bodyStart = parsed.start
        } else {
            guard let value = fields.first("content-length"), let parsed = Int64(value), parsed >= 0 else {
                return .relay(.noLength)
            }
            length = parsed
            bodyStart = 0
        }
        // A response without `Date` gets the time it was received (RFC 9110 6.6.1).
        let dated = fields.first("date") == nil ? headers + [("Date", HTTPDate.format(responseTime))] : headers
        let object = OriginObject(
            length: length,
            etag: fields.first("etag"),
            lastModified: fields.first("last-modified"),
            contentType: fields.first("content-type"),
            headers: ResponseFields.stored(dated),
            freshness: Freshness(
                status: status,
                headers: dated,
                lastModified: fields.first("last-modified"),
                requestTime: requestTime,
                responseTime: responseTime
            )
        )
        return .object(object, bodyStart: bodyStart)
    }

    /// Why the answer to a request passed through to the origin cannot be relayed to its client, or `nil` when it
    /// can. `ranged`: the client sent a `Range`, and ranges are of the identity bytes only.
    package static func relayRefusal(status: Int, headers: [(name: String, value: String)], ranged: Bool) -> Unusable? {
        let fields = Fields(headers)
        if status == 407 { return .proxyAuthentication }
        if let coding = fields.transferCoding { return .transferCoding(coding) }
        if ranged, let coding = fields.contentCoding { return .encodedRange(coding) }
        return nil
    }

    /// Why a response is relayed and not stored.
    package enum RelayReason: Equatable, Sendable, CustomStringConvertible {
        /// Not 200 or 206 (a redirect, a 404...).
        case status(Int)
        /// `Cache-Control: no-store` or `private`.
        case noStore
        /// A 200 without `Content-Length`.
        case noLength
        /// `Vary: *`, or a `Vary` naming a header the engine does not key on.
        case varies(String)
        /// A `Content-Encoding` other than identity.
        case encoded(String)

        package var description: String {
            switch self {
            case .status(let code): "origin answered \(code)"
            case .noStore: "origin answered Cache-Control: no-store or private"
            case .noLength: "origin answered without a length"
            case .varies(let value): "origin answered Vary: \(value)"
            case .encoded(let coding): "origin answered Content-Encoding: \(coding)"
            }
        }
    }

    /// Why nobody gets a response.
    package enum Unusable: Equatable, Sendable {
        /// A 5xx.
        case status(Int)
        /// A 407 from the upstream proxy.
        case proxyAuthentication
        /// `Transfer-Encoding` with a coding other than chunked: the body is not the bytes it describes.
        case transferCoding(String)
        /// A content coding in answer to a range: a range of encoded bytes is not a range of the object.
        case encodedRange(String)
        /// A malformed or inconsistent head (bad `Content-Range`, wrong start).
        case invalid(String)
    }
}

/// The object an origin response describes.
package struct OriginObject: Equatable, Sendable {
    /// The whole object's length in identity bytes.
    package var length: Int64
    package var etag: String?
    package var lastModified: String?
    package var contentType: String?
    /// The origin's other end-to-end fields, sent with every answer from the cache (`ResponseFields.stored`).
    package var headers: [HeaderField]
    package var freshness: Freshness

    package init(
        length: Int64,
        etag: String?,
        lastModified: String?,
        contentType: String?,
        headers: [HeaderField] = [],
        freshness: Freshness = .unknown
    ) {
        self.length = length
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
        self.headers = headers
        self.freshness = freshness
    }

    /// Whether another response describes the same content: the same length and ETag, and without an ETag the same
    /// `Last-Modified`.
    package func sameContent(as other: OriginObject) -> Bool {
        length == other.length && etag == other.etag && (etag != nil || lastModified == other.lastModified)
    }
}

extension Freshness {
    /// A response whose freshness is not known (stored before it was kept): stale, revalidated at its next use.
    package static let unknown = Freshness(
        responseTime: 0,
        initialAge: 0,
        lifetime: 0,
        alwaysRevalidate: false,
        mustRevalidate: false
    )
}

/// A `Content-Range: bytes a-b/total` response header.
package struct ContentRange: Equatable, Sendable {
    package var start: Int64
    package var end: Int64
    package var total: Int64

    package init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: " \t")
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let rest = trimmed.dropFirst("bytes ".count)
        let parts = rest.split(separator: "/")
        guard parts.count == 2, let total = Int64(parts[1]) else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]), start <= end, end < total
        else { return nil }
        self.start = start
        self.end = end
        self.total = total
    }
}

/// Response header fields looked up case-insensitively, list values split at commas.
private struct Fields {
    let headers: [(name: String, value: String)]

    init(_ headers: [(name: String, value: String)]) {
        self.headers = headers
    }

    func first(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name }?.value
    }

    /// The lowercased list elements of every field line named `name`, empty elements left out.
    func tokens(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name }.flatMap { field in
            field.value.split(separator: ",").map { $0.trimmingCharacters(in: " \t").lowercased() }.filter {
                !$0.isEmpty
            }
        }
    }

    /// The `Content-Encoding` value when it names any coding but identity.
    var contentCoding: String? {
        let codings = tokens("content-encoding")
        return codings.allSatisfy { $0 == "identity" } ? nil : codings.joined(separator: ", ")
    }

    /// The `Transfer-Encoding` value when it names any coding but chunked.
    var transferCoding: String? {
        let codings = tokens("transfer-encoding")
        return codings.allSatisfy { $0 == "chunked" } ? nil : codings.joined(separator: ", ")
    }

    /// The `Vary` value when it is `*` or names a header other than `Accept-Encoding`: the engine sends
    /// `Accept-Encoding: identity` on every origin request and keeps identity bytes only, so that one is keyed.
    var unkeyedVary: String? {
        let names = tokens("vary")
        return names.allSatisfy { $0 == "accept-encoding" } ? nil : names.joined(separator: ", ")
    }
}
