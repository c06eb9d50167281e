import CacheNodeCore
import CacheProtocol
import Testing

@testable import CacheEngine

struct CacheRequestTests {
    @Test(
        arguments: [
            (
                "/filestreamingservice/files/abc?P1=1&cacheHostOrigin=au.download.windowsupdate.com&P2=2", nil,
                "http://au.download.windowsupdate.com/filestreamingservice/files/abc?P1=1&P2=2"
            ),
            (
                "/mscomtest/wuidt.gif?cacheHostOrigin=au.download.windowsupdate.com", nil,
                "http://au.download.windowsupdate.com/mscomtest/wuidt.gif"
            ),
            ("/a/b.cab", "dl.delivery.mp.microsoft.com", "http://dl.delivery.mp.microsoft.com/a/b.cab"),
            ("/a?x=1&cachehostorigin=127.0.0.1:8081", "cache.local", "http://127.0.0.1:8081/a?x=1"),
            ("/a%2eb//c/?cacheHostOrigin=Example.COM.", nil, "http://example.com/a.b/c/"),
            ("/x?cacheHostOrigin=host:80&b=2&a=1", nil, "http://host/x?b=2&a=1"),
            ("http://tlu.dl.delivery.mp.microsoft.com/f?q", nil, "http://tlu.dl.delivery.mp.microsoft.com/f?q"),
        ] as [(String, String?, String)]
    )
    func originURL(target: String, host: String?, expected: String) throws {
        #expect(try CacheRequest.parse(target: target, hostHeader: host).originURL == expected)
    }

    @Test(arguments: [
        "/../etc/passwd?cacheHostOrigin=a.com",
        "/a/%2e%2e/b?cacheHostOrigin=a.com",
        "/a/%2E%2e/b?cacheHostOrigin=a.com",
        "/a/./b?cacheHostOrigin=a.com",
        "/a%2fb?cacheHostOrigin=a.com",
        "/a%5cb?cacheHostOrigin=a.com",
        "/a\\..\\b?cacheHostOrigin=a.com",
        "/a%00?cacheHostOrigin=a.com",
        "/a%zz?cacheHostOrigin=a.com",
        "/a?cacheHostOrigin=user@a.com",
        "/a?cacheHostOrigin=a.com%40evil.com",
        "/a?cacheHostOrigin=a.com/evil",
        "/a?cacheHostOrigin=a.com:99999",
        "/a?cacheHostOrigin=a.com&cacheHostOrigin=b.com",
        "/a?cacheHostOrigin=",
        "a?cacheHostOrigin=a.com",
        // Found by Fuzz/run request-target: white space and control characters must never reach the origin.
        "http://127./x?== /\u{0}7.0.0.1%00.0d%.1n:9/x\r",
        "/a?cacheHostOrigin=a.com&x=1\r\nX-Injected: 1",
        "/a b?cacheHostOrigin=a.com",
        "/a?cacheHostOrigin=a.com\u{7F}",
    ])
    func refused(target: String) {
        #expect(throws: RequestError.self) { try CacheRequest.parse(target: target, hostHeader: "cache") }
    }

    @Test func aHostHeaderWithControlCharactersIsRefused() {
        #expect(throws: RequestError.self) { try CacheRequest.parse(target: "/a", hostHeader: "a.com\r\nX: 1") }
    }

    @Test func missingOrigin() {
        #expect(throws: RequestError.missingOrigin) { try CacheRequest.parse(target: "/a", hostHeader: nil) }
    }

    @Test func cacheKeyIgnoresDefaultPortAndCase() throws {
        let first = try CacheRequest.parse(target: "/a?cacheHostOrigin=Host.example:80", hostHeader: nil)
        let second = try CacheRequest.parse(target: "/a", hostHeader: "host.example")
        #expect(first.cacheKey == second.cacheKey)
    }
}

/// The scheme and port an origin is fetched on come from its allowlist entry; a request over TLS defaults to 443.
struct CacheRequestSchemeTests {
    static let allowlist = OriginAllowlist(
        patterns: ["*.download.windowsupdate.com", "https://*.manage.microsoft.com"],
        extra: ["127.0.0.1", "https://127.0.0.1:8443", "https://origin.test:9443"]
    )

    @Test(
        arguments: [
            // Over plain HTTP.
            (
                "/a.cab?cacheHostOrigin=au.download.windowsupdate.com", false,
                "http://au.download.windowsupdate.com/a.cab"
            ),
            ("/app?cacheHostOrigin=swda01.manage.microsoft.com", false, "https://swda01.manage.microsoft.com/app"),
            ("/app?cacheHostOrigin=swda01.manage.microsoft.com:80", false, "https://swda01.manage.microsoft.com/app"),
            (
                "/app?cacheHostOrigin=swda01.manage.microsoft.com:8443", false,
                "https://swda01.manage.microsoft.com:8443/app"
            ),
            ("/f?cacheHostOrigin=127.0.0.1", false, "https://127.0.0.1:8443/f"),
            ("/f?cacheHostOrigin=127.0.0.1:8443", false, "https://127.0.0.1:8443/f"),
            ("/f?cacheHostOrigin=127.0.0.1:8080", false, "http://127.0.0.1:8080/f"),
            ("/f?cacheHostOrigin=origin.test&x=1", false, "https://origin.test:9443/f?x=1"),
            // Over TLS: the same origins, the same URLs; 443 is the default port.
            ("/app?cacheHostOrigin=swda01.manage.microsoft.com", true, "https://swda01.manage.microsoft.com/app"),
            ("/app?cacheHostOrigin=swda01.manage.microsoft.com:443", true, "https://swda01.manage.microsoft.com/app"),
            ("/f?cacheHostOrigin=origin.test:9443", true, "https://origin.test:9443/f"),
        ] as [(String, Bool, String)]
    )
    func originURL(target: String, overTLS: Bool, expected: String) throws {
        let request = try CacheRequest.parse(target: target, hostHeader: "cache.local", arrivedOverTLS: overTLS)
        #expect(request.routed(by: Self.allowlist).originURL == expected)
    }

    /// One object whichever way the client came: the key names the origin as the client did, never the scheme.
    @Test(
        arguments: [
            ("/app?cacheHostOrigin=swda01.manage.microsoft.com", "swda01.manage.microsoft.com/app"),
            ("/f?cacheHostOrigin=origin.test:9443&x=1", "origin.test:9443/f?x=1"),
        ]
    )
    func theCacheKeyIsTheSameOverTLSAndOverHTTP(target: String, key: String) throws {
        let overTLS = try CacheRequest.parse(target: target, hostHeader: nil, arrivedOverTLS: true)
        let overHTTP = try CacheRequest.parse(target: target, hostHeader: nil)
        #expect(overTLS.cacheKey == key)
        #expect(overHTTP.cacheKey == key)
        #expect(overTLS.routed(by: Self.allowlist).cacheKey == key)
        #expect(overTLS.routed(by: Self.allowlist).originURL == overHTTP.routed(by: Self.allowlist).originURL)
    }

    @Test func aRequestOverTLSIsFetchedOverTLSEvenUnrouted() throws {
        let request = try CacheRequest.parse(
            target: "/f?cacheHostOrigin=example.org",
            hostHeader: nil,
            arrivedOverTLS: true
        )
        #expect(request.arrivedOverTLS && request.scheme == .https && request.effectivePort == 443)
        #expect(request.originURL == "https://example.org/f")
        let plain = try CacheRequest.parse(target: "/f?cacheHostOrigin=example.org", hostHeader: nil)
        #expect(!plain.arrivedOverTLS && plain.scheme == .http && plain.originURL == "http://example.org/f")
    }

    @Test func theHostFieldSentToTheOriginNamesItsPort() throws {
        let request = try CacheRequest.parse(target: "/f?cacheHostOrigin=127.0.0.1", hostHeader: nil)
        #expect(request.routed(by: Self.allowlist).originAuthority == "127.0.0.1:8443")
        let named = try CacheRequest.parse(target: "/f?cacheHostOrigin=swda01.manage.microsoft.com", hostHeader: nil)
        #expect(named.routed(by: Self.allowlist).originAuthority == "swda01.manage.microsoft.com")
    }
}
