import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// An object's `Expires`, relative to the origin's `Date` or as written.
enum ExpiresValue: Sendable {
    case afterDate(Int)
    case literal(String)
}

/// One `Expires` and what it means for the requests after the miss.
struct ExpiresCase: Sendable, CustomTestStringConvertible {
    let expires: ExpiresValue
    /// Seconds slept after the miss.
    let wait: Int
    /// Requests made after the wait, one after the other.
    let requests: Int
    /// Conditional requests the origin must see for them.
    let revalidations: Int

    var testDescription: String {
        switch expires {
        case .afterDate(let seconds): "Expires \(seconds) s after Date, \(requests) request(s) \(wait) s later"
        case .literal(let text): "Expires: \(text), \(requests) request(s)"
        }
    }
}

/// Response headers whose freshness a cache reads, and whether a request right after the miss is revalidated.
struct FreshnessDirective: Sendable, CustomTestStringConvertible {
    let headers: [(name: String, value: String)]
    let revalidated: Bool

    var testDescription: String { headers.map { "\($0.name): \($0.value)" }.joined(separator: "; ") }
}

/// How long a stored object may be served without asking the origin (RFC 9111 section 4.2), and what happens once it
/// may not.
@Suite
struct FreshnessTests {
    /// A fresh stored object is served as stored, even if changed at the origin; once stale, the new one, validated.
    @Test func freshObjectIsServedFromCacheAndTheChangedOneOnceStale() async throws {
        try await EngineHarness.with { harness in
            let path = "/fresh.bin"
            let old = harness.origin.add(
                path,
                length: 150_000,
                seed: 51,
                etag: "\"v1\"",
                headers: [("Cache-Control", "max-age=5")]
            )
            let miss = try await harness.get(path)
            #expect(miss.status == 200)
            expectBytes(miss.body, old, "miss")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            let new = harness.origin.add(
                path,
                length: 150_000,
                seed: 52,
                etag: "\"v2\"",
                headers: [("Cache-Control", "max-age=5")]
            )
            let fresh = try await harness.get(path)
            #expect(fresh.status == 200)
            expectBytes(fresh.body, old, "a fresh stored object")
            #expect(fresh.header("ETag") == "\"v1\"")
            #expect(harness.origin.requests(path) == requests, "a fresh stored object was fetched again")
            #expect(harness.origin.conditionalRequests(path) == 0)

            harness.advance(seconds: Int64(6))
            let stale = try await harness.get(path)
            #expect(stale.status == 200)
            expectBytes(stale.body, new, "the origin's new version")
            #expect(stale.header("ETag") == "\"v2\"")
            #expect(harness.origin.conditionalRequests(path) == 1)
            #expect(harness.origin.ifNoneMatchSent(path) == ["\"v1\""])
            await harness.engine.settle()
            let again = try await harness.get(path)
            expectBytes(again.body, new, "the new version, stored")
        }
    }

    /// With `no-cache` the origin is asked on every request; its 304 lets the stored bytes be served.
    @Test func noCacheRevalidatesEveryRequest() async throws {
        try await EngineHarness.with { harness in
            let path = "/no-cache.bin"
            let bytes = harness.origin.add(path, length: 100_000, seed: 53, headers: [("Cache-Control", "no-cache")])
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let sent = harness.origin.bytesSent
            for (index, range) in [nil, "bytes=100-199", nil, "bytes=90000-"].enumerated() {
                let response = try await harness.get(path, headers: range.map { [("Range", $0)] } ?? [])
                if let range {
                    #expect(response.status == 206, "\(range)")
                    let start = index == 1 ? 100 : 90_000
                    let end = index == 1 ? 199 : bytes.count - 1
                    expectBytes(response.body, bytes[start...end], "\(range)")
                } else {
                    #expect(response.status == 200)
                    expectBytes(response.body, bytes, "request \(index + 1)")
                }
                #expect(harness.origin.conditionalRequests(path) == index + 1, "request \(index + 1)")
                #expect(harness.origin.notModifiedSent(path) == index + 1, "request \(index + 1)")
            }
            #expect(harness.origin.bytesSent - sent < bytes.count, "the object was fetched again after a 304")
        }
    }

    static let heuristics: [(lastModifiedAgo: Int, revalidated: Bool)] = [
        (30 * 86_400, false),
        (10, true),
    ]

    /// Without explicit freshness, an object stays fresh for 10% of the time since its Last-Modified (RFC 9111 4.2.2).
    @Test(arguments: heuristics)
    func heuristicFreshnessIsTenPercentOfTheLastModifiedAge(lastModifiedAgo: Int, revalidated: Bool) async throws {
        try await EngineHarness.with { harness in
            let path = "/heuristic.bin"
            let bytes = harness.origin.add(
                path,
                length: 100_000,
                seed: 55,
                lastModified: TestOrigin.httpDate(epochSeconds: Int(harness.clock.now) + -lastModifiedAgo)
            )
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            harness.advance(seconds: Int64(3))
            let response = try await harness.get(path)
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            #expect(harness.origin.conditionalRequests(path) == (revalidated ? 1 : 0))
            if !revalidated {
                #expect(harness.origin.requests(path) == requests, "a heuristically fresh object was fetched again")
            }
        }
    }

    static let expiresCases = [
        ExpiresCase(expires: .afterDate(1), wait: 3, requests: 1, revalidations: 1),
        ExpiresCase(expires: .afterDate(3600), wait: 3, requests: 1, revalidations: 0),
        ExpiresCase(expires: .literal("0"), wait: 0, requests: 2, revalidations: 2),
    ]

    /// `Expires` counts from the origin's `Date`; an invalid one (`0`) means expired: every request is revalidated.
    @Test(arguments: expiresCases)
    func expiresDecidesFreshness(_ expires: ExpiresCase) async throws {
        try await EngineHarness.with { harness in
            let path = "/expires.bin"
            let now = Int(harness.clock.now)
            var headers: [(name: String, value: String)] = [("Date", TestOrigin.httpDate(epochSeconds: now))]
            switch expires.expires {
            case .afterDate(let seconds): headers.append(("Expires", TestOrigin.httpDate(epochSeconds: now + seconds)))
            case .literal(let text): headers.append(("Expires", text))
            }
            let bytes = harness.origin.add(path, length: 100_000, seed: 57, headers: headers)
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            harness.advance(seconds: Int64(expires.wait))
            for index in 0..<expires.requests {
                let response = try await harness.get(path)
                #expect(response.status == 200)
                expectBytes(response.body, bytes, "request \(index + 1)")
            }
            #expect(harness.origin.conditionalRequests(path) == expires.revalidations)
            if expires.revalidations == 0 {
                #expect(harness.origin.requests(path) == requests, "a fresh stored object was fetched again")
            }
        }
    }

    static let directives = [
        FreshnessDirective(headers: [("Cache-Control", "max-age=0")], revalidated: true),
        FreshnessDirective(headers: [("Cache-Control", "max-age=0, s-maxage=3600")], revalidated: false),
        FreshnessDirective(headers: [("Cache-Control", "max-age=3600, s-maxage=0")], revalidated: true),
        FreshnessDirective(
            headers: [("Cache-Control", "max-age=0"), ("CDN-Cache-Control", "max-age=3600")],
            revalidated: false
        ),
        FreshnessDirective(
            headers: [("Cache-Control", "max-age=3600"), ("CDN-Cache-Control", "max-age=0")],
            revalidated: true
        ),
    ]

    /// A shared cache obeys `s-maxage` over `max-age`, and `CDN-Cache-Control` (RFC 9213) over `Cache-Control`.
    @Test(arguments: directives)
    func sharedCacheDirectivesWin(_ directive: FreshnessDirective) async throws {
        try await EngineHarness.with { harness in
            let path = "/directive.bin"
            let bytes = harness.origin.add(path, length: 100_000, seed: 59, headers: directive.headers)
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            let response = try await harness.get(path)
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            #expect(harness.origin.conditionalRequests(path) == (directive.revalidated ? 1 : 0))
            if !directive.revalidated {
                #expect(harness.origin.requests(path) == requests, "a fresh stored object was fetched again")
            }
        }
    }
}
