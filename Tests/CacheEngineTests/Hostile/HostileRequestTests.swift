import CacheNodeCore
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// One hostile request: raw bytes with `{O}` for the listed origin (`origin.test:PORT`) and `{P}` for its port.
struct HostileRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let template: String
    let status: Int

    init(_ name: String, _ template: String, _ status: Int) {
        self.name = name
        self.template = template
        self.status = status
    }

    /// A GET of `target` with `Connection: close` and any extra header lines.
    static func get(_ name: String, _ target: String, _ status: Int, headers: String = "") -> HostileRequest {
        HostileRequest(name, "GET \(target) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\(headers)\r\n", status)
    }

    /// A ranged GET of the cached object.
    static func range(_ name: String, _ value: String, _ status: Int) -> HostileRequest {
        get(name, "/h.bin?cacheHostOrigin={O}", status, headers: "Range: \(value)\r\n")
    }

    func bytes(origin: String, port: Int) -> [UInt8] {
        Array(template.replacing("{O}", with: origin).replacing("{P}", with: "\(port)").utf8)
    }

    var testDescription: String { name }
}

/// Resolves `origin.test` to the loopback test origin and `private.download.windowsupdate.com` to a private address.
struct StubResolver: HostResolver {
    func resolve(_ host: String, port: Int) async -> Result<[IPAddress], OriginFailure> {
        if let literal = IPAddress(host) { return .success([literal]) }
        switch host {
        case "origin.test": return .success([IPAddress("127.0.0.1")!])
        case "private.download.windowsupdate.com": return .success([IPAddress("10.0.0.5")!])
        default: return .failure(.unresolvable("cannot resolve \(host) (Name or service not known)"))
        }
    }
}

/// How a test's requests reach the engine: its plain HTTP listener, or its TLS listener (`TLSFixture`).
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case http
    case https

    var testDescription: String { rawValue }

    /// `engine.https` for the TLS transport.
    func https() throws -> NodeConfiguration.HTTPS? {
        self == .https ? try TLSFixture.shared().https() : nil
    }

    /// Sends raw bytes and returns everything the engine sends until it closes.
    func raw(_ bytes: [UInt8], to harness: EngineHarness) async throws -> [UInt8] {
        switch self {
        case .http:
            return try await TestHTTPClient.raw(port: harness.port, bytes)
        case .https:
            let port = try #require(harness.httpsPort)
            return try await TLSTestClient.raw(port: port, ca: try TLSFixture.shared().caFile, bytes)
        }
    }

    /// A GET with `Connection: close`.
    func get(_ target: String, headers: [(String, String)] = [], from harness: EngineHarness) async throws
        -> TestResponse
    {
        var request = "GET \(target) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        return try TestHTTPClient.parse(try await raw(Array((request + "\r\n").utf8), to: harness))
    }
}

/// Hostile requests get a refusal (or an ignored Range), never reach the origin, and the engine keeps answering, on
/// the plain listener and through TLS alike.
struct HostileRequestTests {
    static let length = 100_000

    static let cases: [HostileRequest] = [
        // Path traversal in every encoding.
        .get("dot-dot", "/a/../h.bin?cacheHostOrigin={O}", 400),
        .get("leading dot-dot", "/../../etc/passwd?cacheHostOrigin={O}", 400),
        .get("encoded dot-dot", "/a/%2e%2e/h.bin?cacheHostOrigin={O}", 400),
        .get("mixed-case encoded dot-dot", "/a/%2E%2e/h.bin?cacheHostOrigin={O}", 400),
        .get("half-encoded dot-dot", "/a/.%2e/h.bin?cacheHostOrigin={O}", 400),
        .get("double-encoded dot-dot", "/a/%252e%252e/h.bin?cacheHostOrigin={O}", 400),
        .get("double-encoded slash", "/a/..%252f..%252fh.bin?cacheHostOrigin={O}", 400),
        .get("encoded slash", "/a/..%2f..%2fh.bin?cacheHostOrigin={O}", 400),
        .get("encoded backslash", "/a/..%5c..%5ch.bin?cacheHostOrigin={O}", 400),
        .get("raw backslash", "/a/..\\..\\h.bin?cacheHostOrigin={O}", 400),
        .get("overlong UTF-8 dot", "/a/%c0%ae%c0%ae/h.bin?cacheHostOrigin={O}", 400),
        .get("encoded NUL", "/h.bin%00.txt?cacheHostOrigin={O}", 400),
        // Origins that are not on the list, or name this machine or a private network.
        .get("loopback not listed", "/h.bin?cacheHostOrigin=127.0.0.1:{P}", 403),
        .get("localhost", "/h.bin?cacheHostOrigin=localhost:{P}", 403),
        .get("cloud metadata", "/latest/meta-data/?cacheHostOrigin=169.254.169.254", 403),
        .get("IPv6 loopback", "/h.bin?cacheHostOrigin=[::1]:{P}", 403),
        .get("decimal IP", "/h.bin?cacheHostOrigin=2130706433:{P}", 403),
        .get("octal IP", "/h.bin?cacheHostOrigin=0177.0.0.1:{P}", 403),
        .get("hex IP", "/h.bin?cacheHostOrigin=0x7f.0.0.1:{P}", 403),
        .get(
            "allowed name resolving to a private address",
            "/h.bin?cacheHostOrigin=private.download.windowsupdate.com",
            403
        ),
        // An allowed name that does not resolve is the network's fault: 502, so Windows falls back at once.
        .get("allowed name that does not resolve", "/h.bin?cacheHostOrigin=gone.download.windowsupdate.com", 502),
        .get("userinfo trick", "/h.bin?cacheHostOrigin=au.download.windowsupdate.com@127.0.0.1:{P}", 400),
        .get("encoded userinfo trick", "/h.bin?cacheHostOrigin=au.download.windowsupdate.com%40127.0.0.1:{P}", 400),
        .get("absolute form to loopback", "http://127.0.0.1:{P}/h.bin", 403).withHost("127.0.0.1:{P}"),
        .get("Host header to loopback", "/h.bin", 403, headers: "X-Ignored: 1\r\n").withHost("127.0.0.1:{P}"),
        // CRLF injection into what would go to the origin.
        .get("encoded CRLF in the origin", "/h.bin?cacheHostOrigin={O}%0d%0aX-Injected:%20yes", 400),
        .get("encoded CRLF in the path", "/h.bin%0d%0aX-Injected:%20yes?cacheHostOrigin={O}", 400),
        HostileRequest(
            "raw CR in the target",
            "GET /h.bin?cacheHostOrigin={O}\rX-Injected: yes HTTP/1.1\r\nHost: c\r\n\r\n",
            400
        ),
        HostileRequest(
            "raw LF in the target",
            "GET /h.bin?cacheHostOrigin={O}\nX-Injected: yes HTTP/1.1\r\nHost: c\r\n\r\n",
            400
        ),
        HostileRequest(
            "raw CR in a header",
            "GET /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: c\rX-Injected: yes\r\n\r\n",
            400
        ),
        // Request smuggling forms and methods.
        .get(
            "Content-Length with chunked",
            "/h.bin?cacheHostOrigin={O}",
            400,
            headers: "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"
        )
        .withBody("0\r\n\r\n"),
        .get(
            "two Content-Lengths",
            "/h.bin?cacheHostOrigin={O}",
            400,
            headers: "Content-Length: 5\r\nContent-Length: 6\r\n"
        )
        .withBody("hello!"),
        HostileRequest(
            "POST",
            "POST /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            405
        ),
        HostileRequest(
            "TRACE",
            "TRACE /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
            405
        ),
        // Request bodies: the engine takes none. A head that announces one is answered at once and the connection
        // closes, so a body that never ends cannot hold it. Kept-alive cases end only because the engine closes.
        .get("body on GET hiding a request", "/h.bin?cacheHostOrigin={O}", 400, headers: "Content-Length: 28\r\n")
            .withBody("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        .get(
            "Content-Length: 100 with 10 bytes sent",
            "/h.bin?cacheHostOrigin={O}",
            400,
            headers: "Content-Length: 100\r\n"
        )
        .withBody("0123456789"),
        HostileRequest(
            "Content-Length: 100 with 10 bytes sent, kept alive",
            "GET /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: cache\r\nContent-Length: 100\r\n\r\n0123456789",
            400
        ),
        HostileRequest(
            "chunk size FFFFFFFFFFFFFFED, kept alive",
            "GET /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: cache\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFED\r\nabc",
            400
        ),
        .get("whole chunked body on GET", "/h.bin?cacheHostOrigin={O}", 400, headers: "Transfer-Encoding: chunked\r\n")
            .withBody("5\r\nhello\r\n0\r\n\r\n"),
        .get(
            "Transfer-Encoding other than chunked",
            "/h.bin?cacheHostOrigin={O}",
            400,
            headers: "Transfer-Encoding: gzip\r\n"
        ),
        .get(
            "Expect: 100-continue with a body",
            "/h.bin?cacheHostOrigin={O}",
            400,
            headers: "Expect: 100-continue\r\nContent-Length: 10\r\n"
        ),
        HostileRequest(
            "HEAD with a body, kept alive",
            "HEAD /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: cache\r\nContent-Length: 5\r\n\r\nhe",
            400
        ),
        HostileRequest(
            "POST with a body that never ends, kept alive",
            "POST /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nHost: cache\r\nContent-Length: 1000\r\n\r\nx",
            405
        ),
        HostileRequest(
            "HTTP/1.0 GET with a body, kept alive",
            "GET /h.bin?cacheHostOrigin={O} HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\nx",
            400
        ),
        .get("Content-Length: 0 is no body", "/h.bin?cacheHostOrigin={O}", 200, headers: "Content-Length: 0\r\n"),
        .get("Content-Length: 000 is no body", "/h.bin?cacheHostOrigin={O}", 200, headers: "Content-Length: 000\r\n"),
        // Host (RFC 9112 3.2): one on every HTTP/1.1 request, never two, a valid host[:port], and the origin an
        // absolute-form target names. Two readers of one request must never disagree on where it goes.
        HostileRequest(
            "HTTP/1.1 without Host",
            "GET /h.bin?cacheHostOrigin={O} HTTP/1.1\r\nConnection: close\r\n\r\n",
            400
        ),
        .get("two Host lines, same value", "/h.bin?cacheHostOrigin={O}", 400, headers: "Host: cache\r\n"),
        .get("two Host lines, different values", "/h.bin?cacheHostOrigin={O}", 400, headers: "Host: elsewhere\r\n"),
        .get("two Host lines, names in other cases", "/h.bin?cacheHostOrigin={O}", 400, headers: "host: cache\r\n"),
        .get("two Host lines, the first naming the origin", "/h.bin", 400, headers: "Host: 127.0.0.1:{P}\r\n").withHost(
            "{O}"
        ),
        .get("Host with user information", "/h.bin?cacheHostOrigin={O}", 400).withHost("user@cache"),
        .get("Host with a path", "/h.bin?cacheHostOrigin={O}", 400).withHost("cache/x"),
        .get("Host with a bad port", "/h.bin?cacheHostOrigin={O}", 400).withHost("cache:80x"),
        .get("Host with white space inside", "/h.bin?cacheHostOrigin={O}", 400).withHost("cache evil"),
        .get("Host as a list", "/h.bin", 400).withHost("{O}, 127.0.0.1:{P}"),
        .get("Host with an unclosed IPv6 bracket", "/h.bin?cacheHostOrigin={O}", 400).withHost("[::1"),
        .get("absolute form with another Host", "http://{O}/h.bin", 400),
        .get("absolute form with an empty Host", "http://{O}/h.bin", 400).withHost(""),
        HostileRequest("absolute form without Host", "GET http://{O}/h.bin HTTP/1.1\r\nConnection: close\r\n\r\n", 400),
        .get("absolute form with the same Host", "http://{O}/h.bin", 200).withHost("{O}"),
        .get("absolute form with the same Host in capitals", "http://{O}/h.bin", 200).withHost("ORIGIN.TEST:{P}"),
        HostileRequest("HTTP/1.0 without Host", "GET /h.bin?cacheHostOrigin={O} HTTP/1.0\r\n\r\n", 200),
        .get("empty Host with cacheHostOrigin", "/h.bin?cacheHostOrigin={O}", 200).withHost(""),
        // Absurd Range headers: ignored (200), coalesced or clamped (206), or unsatisfiable (416), never wrong bytes.
        .range("2,000 ranges", "bytes=" + (0..<2000).map { "\($0 * 10)-\($0 * 10 + 1)" }.joined(separator: ","), 200),
        .range("overlapping ranges", "bytes=0-500,100-600,50-60", 206),
        .range("negative start", "bytes=-5-10", 200),
        .range("negative end", "bytes=5--10", 200),
        .range("20-digit start", "bytes=99999999999999999999-", 416),
        .range("20-digit end", "bytes=0-99999999999999999999", 206),
        .range("20-digit suffix", "bytes=-99999999999999999999", 206),
        .range("start past the end", "bytes=100000-", 416),
        .range("other unit", "items=0-10", 200),
    ]

    @Test(arguments: cases, Transport.allCases)
    func hostileRequestIsRefusedWithoutReachingTheOrigin(request: HostileRequest, transport: Transport) async throws {
        let https = try transport.https()
        try await EngineHarness.with(
            // Over TLS the origin is HTTPS, listed as origin.test only: loopback stays unlisted.
            tls: transport == .https ? try TLSFixture.shared().listingOrigin(as: ["origin.test"]) : nil,
            configure: {
                $0.engine.extraOrigins = ["origin.test"]
                $0.engine.https = https
            },
            resolver: StubResolver()
        ) { harness in
            let origin = "origin.test:\(harness.origin.port)"
            let bytes = harness.origin.add("/h.bin", length: Self.length, seed: 61)
            let warm = try await transport.get("/h.bin?cacheHostOrigin=\(origin)", from: harness)
            expectBytes(warm.body, bytes)
            await harness.engine.settle()
            let before = harness.origin.hostHeaders.count

            let answer = try await transport.raw(request.bytes(origin: origin, port: harness.origin.port), to: harness)
            let response = try TestHTTPClient.parse(answer)
            // Over TLS an origin listed for plain HTTP only is refused before any lookup.
            let expected = transport == .https && request.status == 502 ? 403 : request.status
            #expect(response.status == expected)
            if response.status == 200 { expectBytes(response.body, bytes) }
            if response.status == 502 {
                #expect(
                    String(decoding: response.body, as: UTF8.self).contains(
                        "cannot resolve gone.download.windowsupdate.com"
                    )
                )
            }
            if response.status == 206 {
                let range = try #require(
                    response.header("Content-Range")?.dropFirst("bytes ".count).split(separator: "/").first
                )
                let ends = range.split(separator: "-").compactMap { Int($0) }
                #expect(ends.count == 2)
                if ends.count == 2 { expectBytes(response.body, bytes[ends[0]...ends[1]]) }
            }
            #expect(harness.origin.hostHeaders.count == before, "the request reached the origin")

            let healthy = try await transport.get(
                "/h.bin?cacheHostOrigin=\(origin)",
                headers: [("Range", "bytes=10-99")],
                from: harness
            )
            #expect(healthy.status == 206)
            expectBytes(healthy.body, bytes[10...99])
        }
    }
}

extension HostileRequest {
    /// The same request with another `Host` header value (an empty one too).
    func withHost(_ host: String) -> HostileRequest {
        HostileRequest(name, template.replacing("Host: cache\r\n", with: "Host: \(host)\r\n"), status)
    }

    /// The same request with `body` after the head.
    func withBody(_ body: String) -> HostileRequest {
        HostileRequest(name, template + body, status)
    }
}
