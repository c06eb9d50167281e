import CacheProtocol

/// What the cache keeps about one object besides its blocks: the origin's validators and the object's shape.
package struct ObjectMetadata: Equatable, Sendable {
    /// The cache key (`host[:port]/path?query`).
    package var key: String
    package var etag: String?
    package var lastModified: String?
    package var contentType: String?
    /// The whole object's length in bytes.
    package var length: Int64
    /// The block size the object was stored with.
    package var blockSize: Int
    /// The origin's other end-to-end fields, sent with every answer from the cache.
    package var headers: [HeaderField]
    package var freshness: Freshness

    package init(
        key: String,
        etag: String?,
        lastModified: String?,
        contentType: String?,
        length: Int64,
        blockSize: Int,
        headers: [HeaderField] = [],
        freshness: Freshness = .unknown
    ) {
        self.key = key
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
        self.length = length
        self.blockSize = blockSize
        self.headers = headers
        self.freshness = freshness
    }

    /// The object as an origin described it.
    package init(key: String, object: OriginObject, blockSize: Int) {
        self.init(
            key: key,
            etag: object.etag,
            lastModified: object.lastModified,
            contentType: object.contentType,
            length: object.length,
            blockSize: blockSize,
            headers: object.headers,
            freshness: object.freshness
        )
    }

    /// The validators, type, length, fields and freshness the origin gave.
    package var object: OriginObject {
        OriginObject(
            length: length,
            etag: etag,
            lastModified: lastModified,
            contentType: contentType,
            headers: headers,
            freshness: freshness
        )
    }

    /// How the object falls into blocks.
    package var layout: BlockLayout { BlockLayout(length: length, blockSize: blockSize) }

    /// How many blocks the object has.
    package var blockCount: Int { layout.blockCount }

    /// The byte length of block `index` (the last one may be short).
    package func blockLength(_ index: Int) -> Int { layout.blockLength(index) }

    /// Whether another response describes the same content (same ETag and length; without an ETag, the same
    /// `Last-Modified`): the same version of the object, whatever its fields and freshness.
    package func sameContent(as other: ObjectMetadata) -> Bool {
        length == other.length && etag == other.etag && (etag != nil || lastModified == other.lastModified)
    }

    /// The metadata after a 304 for `request` sent at `requestTime`: the 304's fields in place of the stored ones of
    /// the same names, and the freshness counted from now (RFC 9111 4.3.4).
    package func refreshed(
        notModified headers: [(name: String, value: String)],
        requestTime: Int64,
        responseTime: Int64
    ) -> ObjectMetadata {
        var dated = headers
        if !dated.contains(where: { $0.name.lowercased() == "date" }) {
            dated.append(("Date", HTTPDate.format(responseTime)))
        }
        var copy = self
        copy.headers = ResponseFields.updated(self.headers, with: dated)
        copy.freshness = Freshness(
            status: 200,
            headers: copy.headers.map { ($0.name, $0.value) },
            lastModified: lastModified,
            requestTime: requestTime,
            responseTime: responseTime
        )
        return copy
    }
}

/// A 64-bit FNV-1a hash of a cache key: the object's file name.
package struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    package var value: UInt64

    package init(value: UInt64) {
        self.value = value
    }

    package init(key: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        value = hash
    }

    package init?(hex: Substring) {
        guard hex.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.value = value
    }

    package var description: String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
