import CacheProtocol
import NIOHTTP1

/// What the cache does with an origin response head: store it, pass it through, or fail.
package enum OriginVerdict: Equatable, Sendable {
    /// Cacheable content; the body starts at byte `bodyStart` of the object.
    case cacheable(ObjectMetadata, bodyStart: Int64)
    /// 3xx, 4xx, `no-store`/`private`, or no length: relayed to the client, never stored.
    case uncacheable
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
        if status >= 500 { return .failure(.status(status)) }
        // Only a proxy asks for proxy credentials; relayed, it would make the device try to log in to the cache.
        if status == 407 { return .failure(.proxyAuthentication) }
        guard status == 200 || status == 206 else { return .uncacheable }
        let cacheControl = headers[canonicalForm: "cache-control"].map { $0.lowercased() }
        if cacheControl.contains(where: { $0.hasPrefix("no-store") || $0.hasPrefix("private") }) {
            return .uncacheable
        }
        let length: Int64
        let bodyStart: Int64
        if status == 206 {
            guard let range = headers.first(name: "content-range"), let parsed = ContentRange(range) else {
                return .failure(.invalidResponse("206 without a usable Content-Range"))
            }
            guard parsed.start == requestedStart else {
                return .failure(.invalidResponse("206 starts at \(parsed.start), not \(requestedStart)"))
            }
            if let bodyLength = headers.first(name: "content-length").flatMap({ Int64($0) }),
                bodyLength != parsed.end - parsed.start + 1
            {
                return .failure(.invalidResponse("Content-Length does not match Content-Range"))
            }
            length = parsed.total
            bodyStart = parsed.start
        } else {
            guard let value = headers.first(name: "content-length"), let parsed = Int64(value), parsed >= 0 else {
                return .uncacheable
            }
            length = parsed
            bodyStart = 0
        }
        let meta = ObjectMetadata(
            key: key,
            etag: headers.first(name: "etag"),
            lastModified: headers.first(name: "last-modified"),
            contentType: headers.first(name: "content-type"),
            length: length,
            blockSize: blockSize
        )
        if let known, !known.sameContent(as: meta) { return .failure(.changed) }
        return .cacheable(meta, bodyStart: bodyStart)
    }
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
