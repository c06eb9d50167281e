import CacheNodeTestSupport
import Testing

/// The test origin's HTTP caching features, asked directly: the caching suites rely on them to judge the engine.
@Suite
struct TestOriginCachingTests {
    /// Runs `body` with a started origin, stopped afterwards.
    static func withOrigin(_ body: (TestOrigin) async throws -> Void) async throws {
        let origin = try await TestOrigin.start()
        do {
            try await body(origin)
        } catch {
            await origin.stop()
            throw error
        }
        await origin.stop()
    }

    static func get(_ origin: TestOrigin, _ path: String, method: String = "GET", headers: [(String, String)] = [])
        async throws -> TestResponse
    {
        try await TestHTTPClient.get(port: origin.port, path, method: method, headers: headers)
    }

    static let lastModified = "Wed, 21 Oct 2015 07:28:00 GMT"

    static let validators: [(headers: [(String, String)], notModified: Bool)] = [
        ([("If-None-Match", "\"e1\"")], true),
        ([("If-None-Match", "W/\"e1\"")], true),
        ([("If-None-Match", "\"other\", W/\"e1\"")], true),
        ([("If-None-Match", "*")], true),
        ([("If-None-Match", "\"other\"")], false),
        ([("If-Modified-Since", lastModified)], true),
        ([("If-Modified-Since", "Thu, 22 Oct 2015 07:28:00 GMT")], true),
        ([("If-Modified-Since", "Tue, 20 Oct 2015 07:28:00 GMT")], false),
        ([("If-Modified-Since", "not a date")], false),
        // If-None-Match decides when both are present.
        ([("If-None-Match", "\"other\""), ("If-Modified-Since", lastModified)], false),
        ([("If-None-Match", "\"e1\""), ("Range", "bytes=0-9")], true),
        ([("If-Modified-Since", lastModified), ("Range", "bytes=0-9")], true),
    ]

    /// Matching validators get a 304 with the validators, a Date and the object's headers; others get the object.
    @Test(arguments: validators)
    func conditionalRequestsAreAnsweredNotModified(headers: [(String, String)], notModified: Bool) async throws {
        try await Self.withOrigin { origin in
            let bytes = origin.add(
                "/c.bin",
                length: 1000,
                seed: 3,
                etag: "\"e1\"",
                headers: [("Cache-Control", "max-age=60"), ("X-Custom", "c")]
            )
            let response = try await Self.get(origin, "/c.bin?q=1", headers: headers)
            let ranged = headers.contains { $0.0 == "Range" }
            #expect(response.status == (notModified ? 304 : ranged ? 206 : 200))
            #expect(response.header("ETag") == "\"e1\"")
            #expect(response.header("Last-Modified") == Self.lastModified)
            #expect(response.header("Cache-Control") == "max-age=60")
            #expect(response.header("X-Custom") == "c")
            #expect(response.header("Date").flatMap(TestOrigin.epochSeconds(httpDate:)) != nil)
            if notModified {
                #expect(response.body.isEmpty)
                #expect(response.header("Transfer-Encoding") == nil)
            } else {
                expectBytes(response.body, ranged ? bytes[0...9] : bytes[...])
            }
            #expect(origin.notModifiedSent("/c.bin") == (notModified ? 1 : 0))
            #expect(origin.conditionalRequests("/c.bin") == 1)
            #expect(origin.requestHeaders("/c.bin").count == 1)
        }
    }

    /// Switched off, conditionals are ignored: the object is sent again.
    @Test func conditionalsCanBeIgnored() async throws {
        try await Self.withOrigin { origin in
            let bytes = origin.add("/c.bin", length: 1000, seed: 5, etag: "\"e1\"")
            origin.honoursConditionals = false
            let response = try await Self.get(origin, "/c.bin", headers: [("If-None-Match", "\"e1\"")])
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            #expect(origin.notModifiedSent("/c.bin") == 0)
            #expect(origin.conditionalRequests("/c.bin") == 1)
        }
    }

    /// A delayed path delays its 304s too.
    @Test func delayAppliesToConditionalRequests() async throws {
        try await Self.withOrigin { origin in
            origin.add("/c.bin", length: 1000, seed: 7, etag: "\"e1\"")
            origin.setFault(.delay(200), for: "/c.bin")
            let response = try await Self.get(origin, "/c.bin", headers: [("If-None-Match", "\"e1\"")])
            #expect(response.status == 304)
            #expect(origin.notModifiedSent("/c.bin") == 1)
        }
    }

    /// Object headers go with every answer; the object's own Date replaces the origin's; HEAD has them too.
    @Test func objectHeadersAndDates() async throws {
        try await Self.withOrigin { origin in
            let date = "Sun, 06 Nov 1994 08:49:37 GMT"
            origin.add("/d.bin", length: 1000, seed: 9, headers: [("Date", date), ("Expires", "0")])
            for method in ["GET", "HEAD"] {
                let response = try await Self.get(origin, "/d.bin", method: method)
                #expect(response.status == 200)
                #expect(response.headers.filter { $0.0.lowercased() == "date" }.map(\.1) == [date], "\(method)")
                #expect(response.header("Expires") == "0")
                #expect(response.header("Content-Length") == "1000")
            }
            let missing = try await Self.get(origin, "/none.bin")
            #expect(missing.status == 404)
            #expect(missing.header("Date").flatMap(TestOrigin.epochSeconds(httpDate:)) != nil)
            #expect(TestOrigin.epochSeconds(httpDate: date) == 784_111_777)
            #expect(TestOrigin.httpDate(epochSeconds: 784_111_777) == date)
            #expect(TestOrigin.epochSeconds(httpDate: "0") == nil)
        }
    }

    /// A scripted answer is sent as written, whatever the request, and a replaced object is served at once.
    @Test func scriptedAnswersAndReplacedObjects() async throws {
        try await Self.withOrigin { origin in
            origin.setFault(.respond(status: 503, headers: [("Retry-After", "5")], body: "busy"), for: "/s.bin")
            for headers in [[], [("Range", "bytes=0-1")], [("If-None-Match", "*")]] as [[(String, String)]] {
                let response = try await Self.get(origin, "/s.bin", headers: headers)
                #expect(response.status == 503)
                #expect(response.header("Retry-After") == "5")
                #expect(response.header("Content-Length") == "4")
                #expect(String(decoding: response.body, as: UTF8.self) == "busy")
                #expect(response.header("Date") != nil)
            }
            #expect(origin.requests("/s.bin") == 3)
            origin.add("/r.bin", length: 1000, seed: 11, etag: "\"a\"")
            let new = origin.add("/r.bin", length: 1000, seed: 12, etag: "\"b\"")
            let response = try await Self.get(origin, "/r.bin")
            #expect(response.header("ETag") == "\"b\"")
            expectBytes(response.body, new)
        }
    }
}
