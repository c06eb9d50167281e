import CacheNodeTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

/// One request whose answer must carry a `Date`, whoever made the answer (the origin, the cache, the engine itself).
struct DatedAnswer: Sendable, CustomTestStringConvertible {
    let name: String
    let status: Int
    let request: @Sendable (EngineHarness) async throws -> TestResponse

    var testDescription: String { name }
}

/// Cache by the HTTP rules (RFC 9111): what a stored answer carries, on a miss, a hit, a HEAD and after a restart.
@Suite
struct HTTPCachingTests {
    /// A stored answer's end-to-end headers, as the origin sent them: Date 100 s old, so the engine's own is told apart.
    static func storedHeaders(expires: String) -> [(name: String, value: String)] {
        [
            ("Cache-Control", "max-age=3600"),
            ("Expires", expires),
            ("X-Custom", "kept"),
            ("Set-Cookie", "session=secret"),
            ("Connection", "X-Hop"),
            ("X-Hop", "one connection only"),
            ("Keep-Alive", "timeout=5, max=100"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authenticate", "Basic realm=\"origin\""),
        ]
    }

    /// Misses, hits, ranges and HEADs carry the origin's end-to-end headers and an Age, never cookies or hop-by-hop ones.
    @Test func endToEndHeadersReachTheClientAndHopByHopOnesDoNot() async throws {
        try await EngineHarness.with { harness in
            let path = "/headers.bin"
            let date = TestOrigin.httpDate(epochSeconds: Int(harness.clock.now) + -100)
            let expires = TestOrigin.httpDate(epochSeconds: Int(harness.clock.now) + 3500)
            let lastModified = TestOrigin.httpDate(epochSeconds: Int(harness.clock.now) + -86_400)
            let bytes = harness.origin.add(
                path,
                length: 100_000,
                seed: 41,
                etag: "\"h1\"",
                lastModified: lastModified,
                contentType: "application/x-cachenode-test",
                headers: Self.storedHeaders(expires: expires) + [("Date", date)]
            )
            func expectEndToEnd(_ response: TestResponse, _ name: String, length: Int) {
                #expect(response.header("Cache-Control") == "max-age=3600", "\(name)")
                #expect(response.header("Expires") == expires, "\(name)")
                #expect(response.header("Date") == date, "\(name): the origin's Date")
                #expect(response.header("X-Custom") == "kept", "\(name)")
                #expect(response.header("ETag") == "\"h1\"", "\(name)")
                #expect(response.header("Last-Modified") == lastModified, "\(name)")
                #expect(response.header("Content-Type") == "application/x-cachenode-test", "\(name)")
                #expect(response.header("Accept-Ranges") == "bytes", "\(name)")
                #expect(response.header("Content-Length") == "\(length)", "\(name)")
                CachingChecks.expectDate(response, "\(name)")
                CachingChecks.expectNoHopByHop(response, "\(name)")
            }

            let miss = try await harness.get(path)
            #expect(miss.status == 200)
            expectBytes(miss.body, bytes, "miss")
            expectEndToEnd(miss, "miss", length: bytes.count)
            await harness.engine.settle()
            let requests = harness.origin.requests(path)

            let hit = try await harness.get(path)
            #expect(hit.status == 200)
            expectBytes(hit.body, bytes, "hit")
            expectEndToEnd(hit, "hit", length: bytes.count)
            CachingChecks.expectAge(hit, "hit")
            #expect(!CachingChecks.has(hit, "Set-Cookie"), "a stored cookie was handed out")

            let range = try await harness.get(path, headers: [("Range", "bytes=70000-79999")])
            #expect(range.status == 206)
            expectBytes(range.body, bytes[70_000...79_999], "range")
            expectEndToEnd(range, "range", length: 10_000)
            #expect(range.header("Content-Range") == "bytes 70000-79999/100000")
            CachingChecks.expectAge(range, "range")
            #expect(!CachingChecks.has(range, "Set-Cookie"), "a stored cookie was handed out")

            let head = try await harness.get(path, method: "HEAD")
            #expect(head.status == 200)
            expectEndToEnd(head, "HEAD", length: bytes.count)
            CachingChecks.expectAge(head, "HEAD")
            #expect(!CachingChecks.has(head, "Set-Cookie"), "a stored cookie was handed out")
            #expect(harness.origin.requests(path) == requests, "a fresh stored object was fetched again")
        }
    }

    /// A HEAD for a stored object answers what a GET would (length, freshness, validators, age) without a body.
    @Test func headOnAHitHasTheHeadersOfGetAndNoBody() async throws {
        try await EngineHarness.with { harness in
            let path = "/head.bin"
            let bytes = harness.origin.add(
                path,
                length: 150_000,
                seed: 43,
                etag: "\"hd\"",
                headers: [("Cache-Control", "max-age=3600")]
            )
            expectBytes(try await harness.get(path).body, bytes)
            await harness.engine.settle()
            let get = try await harness.get(path)
            expectBytes(get.body, bytes)
            let raw = try await TestHTTPClient.raw(
                port: harness.port,
                Array("HEAD \(harness.target(path)) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n".utf8)
            )
            let head = try TestHTTPClient.parse(raw, head: true)
            let headEnd = try #require(TestHTTPClient.find([13, 10, 13, 10], in: raw))
            #expect(raw.count == headEnd + 4, "a HEAD answer carried \(raw.count - headEnd - 4) body bytes")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "150000")
            #expect(head.header("Content-Length") == get.header("Content-Length"))
            #expect(head.header("Cache-Control") == "max-age=3600")
            #expect(head.header("Cache-Control") == get.header("Cache-Control"))
            #expect(head.header("ETag") == "\"hd\"")
            #expect(head.header("Last-Modified") == get.header("Last-Modified"))
            #expect(head.header("Content-Type") == get.header("Content-Type"))
            #expect(head.header("Date") == get.header("Date"), "the stored Date")
            CachingChecks.expectDate(head)
            CachingChecks.expectAge(get, "GET")
            CachingChecks.expectAge(head, "HEAD")
        }
    }

    static let datedAnswers: [DatedAnswer] = [
        DatedAnswer(name: "miss", status: 200) { harness in
            harness.origin.add("/d.bin", length: 10_000, seed: 45)
            return try await harness.get("/d.bin")
        },
        DatedAnswer(name: "hit", status: 200) { harness in
            harness.origin.add("/d.bin", length: 10_000, seed: 45, headers: [("Cache-Control", "max-age=3600")])
            _ = try await harness.get("/d.bin")
            await harness.engine.settle()
            return try await harness.get("/d.bin")
        },
        DatedAnswer(name: "304 to the client's If-None-Match", status: 304) { harness in
            harness.origin.add("/d.bin", length: 10_000, seed: 45, etag: "\"d\"")
            _ = try await harness.get("/d.bin")
            await harness.engine.settle()
            return try await harness.get("/d.bin", headers: [("If-None-Match", "\"d\"")])
        },
        DatedAnswer(name: "416 for a range past the end", status: 416) { harness in
            harness.origin.add("/d.bin", length: 10_000, seed: 45)
            _ = try await harness.get("/d.bin")
            return try await harness.get("/d.bin", headers: [("Range", "bytes=20000-")])
        },
        DatedAnswer(name: "the origin's 404", status: 404) { harness in
            harness.origin.setFault(.respond(status: 404, body: "not here"), for: "/d.bin")
            return try await harness.get("/d.bin")
        },
        DatedAnswer(name: "403 for an origin outside the allowlist", status: 403) { harness in
            try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=evil.example.com")
        },
        DatedAnswer(name: "400 for a malformed origin", status: 400) { harness in
            try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=user@127.0.0.1")
        },
        DatedAnswer(name: "405 for a POST", status: 405) { harness in
            try await harness.get("/d.bin", method: "POST")
        },
        DatedAnswer(name: "502 for an origin that refuses connections", status: 502) { harness in
            // Bound but not listening, and held until answered: connecting is refused.
            let (closed, port) = try #require(boundLoopbackSocket())
            defer { close(closed) }
            return try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=127.0.0.1:\(port)")
        },
    ]

    /// Every answer has a `Date` (RFC 9110 6.6.1), the engine's own errors and refusals included: ages count from it.
    @Test(arguments: datedAnswers)
    func everyAnswerHasADate(answer: DatedAnswer) async throws {
        try await EngineHarness.with { harness in
            let response = try await answer.request(harness)
            #expect(response.status == answer.status)
            CachingChecks.expectDate(response)
        }
    }

    /// A client that already holds a fresh object gets 304 with the validators and freshness it needs to keep it.
    @Test func clientIfNoneMatchOnAFreshHitGetsNotModifiedWithItsHeaders() async throws {
        try await EngineHarness.with { harness in
            let path = "/inm.bin"
            let bytes = harness.origin.add(
                path,
                length: 100_000,
                seed: 47,
                etag: "\"fresh\"",
                headers: [("Cache-Control", "max-age=3600")]
            )
            expectBytes(try await harness.get(path).body, bytes)
            await harness.engine.settle()
            let requests = harness.origin.requests(path)
            let response = try await harness.get(path, headers: [("If-None-Match", "\"fresh\"")])
            #expect(response.status == 304)
            #expect(response.body.isEmpty)
            #expect(response.header("ETag") == "\"fresh\"")
            #expect(response.header("Cache-Control") == "max-age=3600")
            CachingChecks.expectDate(response)
            #expect(harness.origin.requests(path) == requests, "a fresh object was revalidated")
            let other = try await harness.get(path, headers: [("If-None-Match", "\"other\"")])
            #expect(other.status == 200)
            expectBytes(other.body, bytes)
        }
    }

    /// A restarted engine still serves what it stored with the origin's headers and freshness, without asking again.
    @Test func restartKeepsTheStoredHeadersAndFreshness() async throws {
        try await EngineHarness.withDirectory { directory in
            try await EngineHarness.withOrigin { origin in
                let path = "/restart.bin"
                let bytes = origin.add(
                    path,
                    length: 200_000,
                    seed: 49,
                    etag: "\"kept\"",
                    headers: [("Cache-Control", "max-age=3600"), ("X-Custom", "kept")]
                )
                try await EngineHarness.with(origin: origin, directory: directory) { first in
                    let response = try await first.get(path)
                    #expect(response.status == 200)
                    expectBytes(response.body, bytes)
                    await first.engine.settle()
                }
                let requests = origin.requests(path)
                try await EngineHarness.with(origin: origin, directory: directory) { second in
                    let response = try await second.get(path)
                    #expect(response.status == 200)
                    expectBytes(response.body, bytes)
                    #expect(response.header("X-Custom") == "kept")
                    #expect(response.header("Cache-Control") == "max-age=3600")
                    #expect(response.header("ETag") == "\"kept\"")
                    CachingChecks.expectAge(response)
                    #expect(origin.requests(path) == requests, "the restarted engine asked the origin again")
                }
            }
        }
    }
}
