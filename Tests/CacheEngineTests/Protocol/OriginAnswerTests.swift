import CacheProtocol
import Testing

/// Which origin answers are the object's identity bytes, which are relayed unstored, which nobody gets.
struct OriginAnswerTests {
    static let object = OriginObject(length: 300, etag: "\"e\"", lastModified: nil, contentType: nil)
    static let partial: [(String, String)] = [
        ("Content-Range", "bytes 64-127/300"), ("Content-Length", "64"), ("ETag", "\"e\""),
    ]

    /// The answer's class and the object's shape; the fields and freshness it keeps are tested in `FreshnessRulesTests`.
    static func classify(_ status: Int, _ fields: [(String, String)]) -> OriginAnswer {
        let answer = OriginAnswer.classify(
            status: status,
            headers: fields.map { (name: $0.0, value: $0.1) },
            requestedStart: 64
        )
        guard case .object(var object, let start) = answer else { return answer }
        object.headers = []
        object.freshness = .unknown
        return .object(object, bodyStart: start)
    }

    @Test(
        arguments: [
            ("gzip", [("Content-Encoding", "gzip")], OriginAnswer.relay(.encoded("gzip"))),
            ("br in capitals", [("Content-Encoding", "BR")], .relay(.encoded("br"))),
            ("identity then gzip", [("Content-Encoding", "identity, gzip")], .relay(.encoded("identity, gzip"))),
            (
                "two lines", [("Content-Encoding", "identity"), ("content-encoding", "deflate")],
                .relay(.encoded("identity, deflate"))
            ),
            ("Vary: *", [("Vary", "*")], .relay(.varies("*"))),
            ("Vary with * in a list", [("Vary", "Accept-Encoding, *")], .relay(.varies("accept-encoding, *"))),
            ("Vary: User-Agent", [("Vary", "User-Agent")], .relay(.varies("user-agent"))),
            (
                "Vary on two lines", [("Vary", "Accept-Encoding"), ("Vary", "Cookie")],
                .relay(.varies("accept-encoding, cookie"))
            ),
            (
                "Transfer-Encoding: gzip, chunked", [("Transfer-Encoding", "gzip, chunked")],
                .unusable(.transferCoding("gzip, chunked"))
            ),
            ("Transfer-Encoding: deflate", [("Transfer-Encoding", "deflate")], .unusable(.transferCoding("deflate"))),
            ("no-store", [("Cache-Control", "no-store")], .relay(.noStore)),
        ] as [(String, [(String, String)], OriginAnswer)]
    )
    func notTheObjectsIdentityBytes(_ name: String, fields: [(String, String)], expected: OriginAnswer) {
        #expect(Self.classify(206, Self.partial + fields) == expected, "\(name)")
    }

    @Test(
        arguments: [
            ("no coding", []),
            ("Content-Encoding: identity", [("Content-Encoding", "identity")]),
            ("an empty Content-Encoding", [("Content-Encoding", "")]),
            ("Vary: Accept-Encoding", [("Vary", "accept-encoding, Accept-Encoding")]),
            ("an empty Vary", [("Vary", "")]),
            ("Transfer-Encoding: chunked", [("Transfer-Encoding", "chunked")]),
        ] as [(String, [(String, String)])]
    )
    func identityBytesAreTheObject(_ name: String, fields: [(String, String)]) {
        #expect(Self.classify(206, Self.partial + fields) == .object(Self.object, bodyStart: 64), "\(name)")
    }

    @Test func aWholeAnswerStartsAtZero() {
        #expect(
            Self.classify(200, [("Content-Length", "300"), ("ETag", "\"e\"")]) == .object(Self.object, bodyStart: 0)
        )
    }

    @Test(
        arguments: [
            (false, [("Content-Encoding", "gzip")], nil),
            (true, [("Content-Encoding", "gzip")], OriginAnswer.Unusable.encodedRange("gzip")),
            (true, [("Content-Encoding", "identity")], nil),
            (true, [("Vary", "*")], nil),
            (false, [("Transfer-Encoding", "gzip, chunked")], .transferCoding("gzip, chunked")),
        ] as [(Bool, [(String, String)], OriginAnswer.Unusable?)]
    )
    func aPassThroughNeverRelaysEncodedBytesForARange(
        ranged: Bool,
        fields: [(String, String)],
        expected: OriginAnswer.Unusable?
    ) {
        let headers = fields.map { (name: $0.0, value: $0.1) }
        #expect(OriginAnswer.relayRefusal(status: 200, headers: headers, ranged: ranged) == expected)
    }
}
