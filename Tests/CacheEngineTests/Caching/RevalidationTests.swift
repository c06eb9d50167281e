import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// An origin failure while a stored object is stale, and what the client must get.
struct StaleFailure: Sendable, CustomTestStringConvertible {
    let fault: TestOrigin.Fault
    /// `engine.stale_if_error_s`; `nil` for the default.
    let staleIfError: Int?
    let mustRevalidate: Bool
    /// The client's status; `nil` when the stale object is served (200, its exact bytes).
    let status: Int?

    var testDescription: String {
        let limit = staleIfError.map { "stale_if_error_s=\($0)" } ?? "default stale_if_error_s"
        return "\(fault), \(limit)\(mustRevalidate ? ", must-revalidate" : "") -> \(status.map { "\($0)" } ?? "stale")"
    }
}

/// Revalidating stale objects with the origin (RFC 9111 section 4.3), alone, in a crowd, and when the origin fails.
@Suite
struct RevalidationTests {
    /// A stale object the origin confirms with 304 is served from the cache: one conditional request, no body again.
    @Test func unchangedStaleObjectIsRevalidatedWithOneConditionalRequest() async throws {
        try await EngineHarness.with { harness in
            let path = "/revalidate.bin"
            let bytes = harness.origin.add(
                path,
                length: 200_000,
                seed: 61,
                etag: "\"r1\"",
                headers: [("Cache-Control", "max-age=1")]
            )
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let sent = harness.origin.bytesSent
            let waited = 3
            harness.advance(seconds: Int64(waited))
            let response = try await harness.get(path)
            #expect(response.status == 200)
            expectBytes(response.body, bytes, "after the 304")
            #expect(harness.origin.conditionalRequests(path) == 1)
            #expect(harness.origin.notModifiedSent(path) == 1)
            #expect(harness.origin.bytesSent - sent < bytes.count, "the object was fetched again after a 304")
            if let age = CachingChecks.expectAge(response) {
                #expect(age < waited, "Age \(age) after a revalidation")
            }
            let range = try await harness.get(path, headers: [("Range", "bytes=100-199")])
            #expect(range.status == 206)
            expectBytes(range.body, bytes[100...199], "a range of the revalidated object")
        }
    }

    /// An object without ETag or Last-Modified cannot be revalidated: once stale, the origin's answer replaces it,
    /// even with the same length.
    @Test func staleObjectWithoutValidatorsIsReplacedByTheOriginsAnswer() async throws {
        try await EngineHarness.with { harness in
            let path = "/plain.txt"
            harness.origin.setFault(
                .respond(status: 200, headers: [("Cache-Control", "max-age=1")], body: "first version\n"),
                for: path
            )
            let first = try await harness.get(path)
            #expect(first.body == Array("first version\n".utf8))
            await harness.engine.settle()
            let fresh = try await harness.get(path)
            #expect(fresh.body == Array("first version\n".utf8), "fresh: from the cache")
            #expect(harness.origin.requests(path) == 1)
            harness.origin.setFault(
                .respond(status: 200, headers: [("Cache-Control", "max-age=1")], body: "other version\n"),
                for: path
            )
            harness.advance(seconds: 2)
            let stale = try await harness.get(path)
            #expect(stale.body == Array("other version\n".utf8), "stale: the origin's answer")
            await harness.engine.settle()
            let stored = try await harness.get(path)
            #expect(stored.body == Array("other version\n".utf8), "the new one, stored")
            #expect(harness.origin.requests(path) == 2)
        }
    }

    /// An origin that ignores the engine's conditional request and sends the object again still gives exact bytes.
    @Test func originIgnoringConditionalsStillGivesExactBytes() async throws {
        try await EngineHarness.with { harness in
            let path = "/ignores.bin"
            let bytes = harness.origin.add(path, length: 200_000, seed: 63, headers: [("Cache-Control", "max-age=1")])
            harness.origin.honoursConditionals = false
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            harness.advance(seconds: Int64(2))
            let response = try await harness.get(path)
            #expect(response.status == 200)
            expectBytes(response.body, bytes, "after a 200 to the conditional request")
            #expect(harness.origin.conditionalRequests(path) == 1)
            #expect(harness.origin.notModifiedSent(path) == 0)
            let range = try await harness.get(path, headers: [("Range", "bytes=150000-")])
            #expect(range.status == 206)
            expectBytes(range.body, bytes[150_000...])
        }
    }

    /// 100 clients asking at once for a stale object cost the origin one conditional request; each gets exact bytes.
    @Test func revalidationStormSendsOneConditionalRequest() async throws {
        try await EngineHarness.with { harness in
            let path = "/storm.bin"
            let length = 300_000
            let bytes = harness.origin.add(path, length: length, seed: 65, headers: [("Cache-Control", "max-age=1")])
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            // The origin's 304 says max-age=3600: it refreshes the stored headers (RFC 9111 4.3.4), so clients served
            // after it find the object fresh however long the storm takes. With max-age=1 the refreshed copy would be
            // stale again at once (its Date is whole seconds, and the origin's delay counts into its age).
            harness.origin.update(path) { $0.headers = [("Cache-Control", "max-age=3600")] }
            // Slow to answer, so the storm's requests all arrive while the revalidation is in flight.
            harness.origin.setFault(.delay(1000), for: path)
            harness.advance(seconds: Int64(2))
            let ranges: [ClosedRange<Int>?] = (0..<100).map { index in
                guard index % 4 != 0 else { return nil }
                let start = (index * 2_999) % (length - 10_000)
                return start...(start + 9_999)
            }
            let responses = try await harness.allAtOnce(
                path,
                ranges.map { range in range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? [] }
            )
            for (index, (response, range)) in zip(responses, ranges).enumerated() {
                if let range {
                    #expect(response.status == 206, "client \(index)")
                    expectBytes(response.body, bytes[range], "client \(index), \(range)")
                } else {
                    #expect(response.status == 200, "client \(index)")
                    expectBytes(response.body, bytes, "client \(index)")
                }
            }
            #expect(harness.origin.conditionalRequests(path) == 1)
            #expect(harness.origin.requests(path) == requests + 1, "the storm fetched more than one revalidation")
        }
    }

    /// A partly stored object changed at the origin is never mixed: whole requests then get exactly the new version.
    @Test func partlyStoredObjectChangedAtTheOriginIsServedNewAndWhole() async throws {
        try await EngineHarness.with { harness in
            let path = "/partial.bin"
            let block = 64 * 1024
            let length = 4 * block
            let old = harness.origin.add(
                path,
                length: length,
                seed: 67,
                etag: "\"p1\"",
                headers: [("Cache-Control", "max-age=3600")]
            )
            let first = try await harness.get(path, headers: [("Range", "bytes=0-\(2 * block - 1)")])
            #expect(first.status == 206)
            expectBytes(first.body, old[0..<(2 * block)], "blocks 0 and 1")
            await harness.engine.settle()
            let new = harness.origin.add(
                path,
                length: length,
                seed: 68,
                etag: "\"p2\"",
                headers: [("Cache-Control", "max-age=3600")]
            )
            // The change is seen here; this answer may fail or be cut, whatever it is.
            _ = try? await harness.get(path, headers: [("Range", "bytes=\(3 * block)-")])
            await harness.engine.settle()
            let whole = try await harness.get(path)
            #expect(whole.status == 200)
            #expect(whole.complete)
            expectBytes(whole.body, new, "the first whole answer after the change")
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            let again = try await harness.get(path)
            #expect(again.status == 200)
            expectBytes(again.body, new, "the second whole answer after the change")
            #expect(harness.origin.requests(path) == requests, "the new version was not stored")
        }
    }

    static let staleFailures: [StaleFailure] = [
        StaleFailure(fault: .status(503), staleIfError: nil, mustRevalidate: false, status: nil),
        StaleFailure(fault: .refuse, staleIfError: nil, mustRevalidate: false, status: nil),
        StaleFailure(fault: .hang, staleIfError: nil, mustRevalidate: false, status: nil),
        StaleFailure(fault: .status(503), staleIfError: 0, mustRevalidate: false, status: 503),
        StaleFailure(fault: .refuse, staleIfError: 0, mustRevalidate: false, status: 502),
        StaleFailure(fault: .hang, staleIfError: 0, mustRevalidate: false, status: 504),
        StaleFailure(fault: .status(503), staleIfError: nil, mustRevalidate: true, status: 503),
        StaleFailure(fault: .refuse, staleIfError: nil, mustRevalidate: true, status: 502),
        StaleFailure(fault: .hang, staleIfError: nil, mustRevalidate: true, status: 504),
    ]

    /// A stale object is served while its origin fails, unless stale_if_error_s is 0 or it says must-revalidate.
    @Test(arguments: staleFailures)
    func staleObjectIsServedWhileTheOriginFails(_ failure: StaleFailure) async throws {
        try await EngineHarness.with(configure: { configuration in
            // Long enough for the first fill on a busy machine; the hanging origin is cut at it.
            configuration.engine.originReadTimeoutSeconds = 4
            if let seconds = failure.staleIfError { configuration.engine.staleIfErrorSeconds = seconds }
        }) { harness in
            let path = "/stale.bin"
            let cacheControl = failure.mustRevalidate ? "max-age=1, must-revalidate" : "max-age=1"
            let bytes = harness.origin.add(path, length: 150_000, seed: 69, headers: [("Cache-Control", cacheControl)])
            expectBytes(try await harness.get(path).body, bytes, "miss")
            await harness.engine.settle()
            harness.advance(seconds: Int64(2))
            harness.origin.setFault(failure.fault, for: path)
            let response = try await harness.get(path)
            guard let expected = failure.status else {
                #expect(response.status == 200)
                expectBytes(response.body, bytes, "the stale object")
                let range = try await harness.get(path, headers: [("Range", "bytes=100000-100999")])
                #expect(range.status == 206)
                expectBytes(range.body, bytes[100_000...100_999], "a range of the stale object")
                #expect(try await harness.metric("cachenode_stale_served_total") > 0)
                // The status page and `cachenode status` show it from /status.
                #expect((await harness.engine.status().staleServed ?? 0) >= 2)
                return
            }
            // A refused connection is retried until the connect timeout, so on a busy machine it can end as a
            // timeout (504): either way a gateway error, never the stale object.
            let allowed: Set<Int> = expected == 502 ? [502, 504] : [expected]
            #expect(allowed.contains(response.status), "status \(response.status)")
        }
    }
}
