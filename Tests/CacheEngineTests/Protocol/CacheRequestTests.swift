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
