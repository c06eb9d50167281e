import Foundation
import CacheProtocol
import Testing

@testable import CacheEngine

/// Freshness, age and the fields kept with an object, as RFC 9111 defines them.
struct FreshnessRulesTests {
    static let date = "Mon, 07 Dec 2026 10:00:00 GMT"
    static let dateSeconds = HTTPDate.parse(date)!

    static func freshness(
        _ fields: [(String, String)],
        status: Int = 200,
        lastModified: String? = nil,
        requestTime: Int64 = dateSeconds,
        responseTime: Int64 = dateSeconds
    ) -> Freshness {
        Freshness(
            status: status,
            headers: [("Date", date)] + fields.map { (name: $0.0, value: $0.1) },
            lastModified: lastModified,
            requestTime: requestTime,
            responseTime: responseTime
        )
    }

    /// The lifetime comes from s-maxage, then max-age, then Expires, then the heuristic (RFC 9111 4.2.1).
    @Test(
        arguments: [
            ("max-age", [("Cache-Control", "max-age=60")], 60),
            ("s-maxage first", [("Cache-Control", "max-age=0, s-maxage=3600")], 3600),
            ("CDN-Cache-Control first", [("Cache-Control", "max-age=0"), ("CDN-Cache-Control", "max-age=600")], 600),
            ("an empty CDN-Cache-Control is none", [("Cache-Control", "max-age=5"), ("CDN-Cache-Control", "")], 5),
            ("Expires against Date", [("Expires", "Mon, 07 Dec 2026 10:01:40 GMT")], 100),
            ("Expires in the past", [("Expires", "Mon, 07 Dec 2026 09:00:00 GMT")], 0),
            ("Expires: 0 is expired", [("Expires", "0")], 0),
            (
                "max-age beats Expires",
                [("Cache-Control", "max-age=7"), ("Expires", "Mon, 07 Dec 2026 11:00:00 GMT")], 7
            ),
            ("an invalid max-age is stale", [("Cache-Control", "max-age=soon")], 0),
            ("a negative max-age is stale", [("Cache-Control", "max-age=-5")], 0),
            ("max-age twice is stale", [("Cache-Control", "max-age=0"), ("Cache-Control", "max-age=3600")], 0),
            ("a quoted max-age is read", [("Cache-Control", "max-age=\"30\"")], 30),
            ("a huge max-age is 2^31", [("Cache-Control", "max-age=99999999999999999999")], 2_147_483_648),
            ("nothing and no Last-Modified", [], 0),
            (
                "an Expires in a year past 9999 is invalid",
                [("Expires", "Mon, 07 Dec 99999999999999999 10:00:00 GMT")], 0
            ),
        ] as [(String, [(String, String)], Int64)]
    )
    func lifetime(_ name: String, fields: [(String, String)], expected: Int64) {
        #expect(Self.freshness(fields).lifetime == expected, "\(name)")
    }

    /// Without explicit freshness, a tenth of the time since Last-Modified, at most a day, for cacheable statuses.
    @Test func heuristicLifetime() {
        let tenSecondsEarlier = HTTPDate.format(Self.dateSeconds - 10)
        let longAgo = HTTPDate.format(Self.dateSeconds - 30 * 86_400)
        #expect(Self.freshness([], lastModified: tenSecondsEarlier).lifetime == 1)
        #expect(Self.freshness([], lastModified: longAgo).lifetime == Freshness.heuristicLimit)
        #expect(Self.freshness([], status: 206, lastModified: longAgo).lifetime == Freshness.heuristicLimit)
        #expect(Self.freshness([], status: 302, lastModified: longAgo).lifetime == 0)
    }

    /// Huge values neither overflow nor make a response fresh.
    @Test func hugeValuesAreBounded() {
        let freshness = Self.freshness([("Age", "9223372036854775807"), ("Cache-Control", "max-age=60")])
        #expect(freshness.initialAge == 2_147_483_648)
        #expect(!freshness.isFresh(at: Self.dateSeconds))
        #expect(HTTPDate.parse("Mon, 01 Jan 9223372036854775807 00:00:00 GMT") == nil)
        #expect(
            ConditionalRequest(ifModifiedSince: "Mon, 01 Jan 999999999999 00:00:00 GMT").evaluate(
                Validators(etag: nil, lastModified: "Mon, 01 Jan 2024 00:00:00 GMT")
            ) == .serve(honourRange: true)
        )
    }

    /// The age counts the origin's Age, the time the request took and the time since it was received (RFC 9111 4.2.3).
    @Test func age() {
        let received = Self.dateSeconds + 2
        let freshness = Self.freshness(
            [("Age", "30"), ("Cache-Control", "max-age=60")],
            requestTime: Self.dateSeconds,
            responseTime: received
        )
        #expect(freshness.initialAge == 32)
        #expect(freshness.age(at: received + 10) == 42)
        #expect(freshness.isFresh(at: received + 27))
        #expect(!freshness.isFresh(at: received + 28))
        // A Date far in the past (a skewed origin clock) makes the response older than its max-age.
        let skewed = Freshness(
            status: 200,
            headers: [("Date", HTTPDate.format(Self.dateSeconds - 120)), ("Cache-Control", "max-age=60")],
            lastModified: nil,
            requestTime: Self.dateSeconds,
            responseTime: Self.dateSeconds
        )
        #expect(!skewed.isFresh(at: Self.dateSeconds))
    }

    /// no-cache is revalidated at every use; must-revalidate and s-maxage are never served stale; stale serving is
    /// bounded.
    @Test func revalidationRules() {
        let now = Self.dateSeconds + 100
        let noCache = Self.freshness([("Cache-Control", "max-age=3600, no-cache")])
        #expect(!noCache.isFresh(at: now))
        #expect(!noCache.mayServeStale(at: now, limit: 86_400))
        let strict = Self.freshness([("Cache-Control", "max-age=10, must-revalidate")])
        #expect(!strict.mayServeStale(at: now, limit: 86_400))
        let shared = Self.freshness([("Cache-Control", "s-maxage=10")])
        #expect(!shared.mayServeStale(at: now, limit: 86_400))
        let plain = Self.freshness([("Cache-Control", "max-age=10")])
        #expect(plain.mayServeStale(at: now, limit: 90))
        #expect(!plain.mayServeStale(at: now, limit: 89))
        #expect(!plain.mayServeStale(at: now, limit: 0))
    }

    /// Directives are read as a list: names in any case, quoted values with commas inside.
    @Test func directives() {
        let parsed = CacheDirectives(
            [
                (name: "Cache-Control", value: "Private=\"Set-Cookie, X-A\", MAX-AGE=5"),
                (name: "cache-control", value: "no-store"),
            ],
            field: "cache-control"
        )
        #expect(parsed?.isPrivate == true)
        #expect(parsed?.maxAge == 5)
        #expect(parsed?.noStore == true)
        #expect(CacheDirectives([(name: "Cache-Control", value: " , ")], field: "cache-control") == nil)
    }

    /// Only end-to-end fields are kept: no hop-by-hop field or one Connection names, no Set-Cookie, none the engine
    /// writes itself; a 304's fields replace those of the same names.
    @Test func keptFields() {
        let kept = ResponseFields.stored([
            ("Connection", "X-Hop, close"), ("X-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Set-Cookie", "a=1"),
            ("Cache-Control", "max-age=60"), ("X-Custom", "kept"), ("Content-Length", "10"), ("Age", "3"),
            ("ETag", "\"e\""), ("Proxy-Authenticate", "Basic"), ("Transfer-Encoding", "chunked"), ("Date", Self.date),
        ])
        #expect(
            kept == [
                HeaderField("Cache-Control", "max-age=60"), HeaderField("X-Custom", "kept"),
                HeaderField("Date", Self.date),
            ]
        )
        let updated = ResponseFields.updated(kept, with: [("cache-control", "max-age=120"), ("Date", "later")])
        #expect(
            updated == [
                HeaderField("X-Custom", "kept"), HeaderField("cache-control", "max-age=120"),
                HeaderField("Date", "later"),
            ]
        )
        let many = (0..<100).map { (name: "X-Field-\($0)", value: String(repeating: "v", count: 200)) }
        let bounded = ResponseFields.stored(many)
        #expect(bounded.count <= ResponseFields.maximumCount)
        #expect(bounded.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } <= ResponseFields.maximumBytes)
    }

    /// Fields and freshness survive the journal, tabs, line breaks and separators in values included.
    @Test func journalRoundTrip() {
        let meta = ObjectMetadata(
            key: "h/a.bin",
            etag: "\"e\"",
            lastModified: nil,
            contentType: "text/plain",
            length: 10,
            blockSize: 64,
            headers: [HeaderField("Cache-Control", "max-age=60"), HeaderField("X-Odd", "a\tb%c\u{1F}d:e")],
            freshness: Self.freshness([("Cache-Control", "max-age=60, no-cache, must-revalidate")])
        )
        for record in [JournalRecord.object(ObjectID(key: meta.key), meta), .refreshed(ObjectID(key: meta.key), meta)] {
            let line = record.line
            #expect(line.filter { $0 == "\n" }.count == 1)
            #expect(JournalRecord(line: line.dropLast()) == record)
            let bytes = Array(line.utf8.dropLast())
            #expect(bytes.withUnsafeBufferPointer { JournalRecord(bytes: $0) } == record)
        }
        // A line written before fields were kept reads as an object stale from now: revalidated at its next use,
        // and still served for a while if its origin cannot be reached then.
        let old = "O\t\(ObjectID(key: meta.key))\t10\t64\t\"e\"\t\ttext/plain\th/a.bin"
        guard case .object(_, let read)? = JournalRecord(line: Substring(old)) else {
            Issue.record("an old object line is not read")
            return
        }
        let now = Int64(Date().timeIntervalSince1970)
        #expect(read.headers.isEmpty && read.etag == "\"e\"" && read.length == 10)
        #expect(!read.freshness.isFresh(at: now))
        #expect(read.freshness.mayServeStale(at: now + 60, limit: 86_400))
    }
}
