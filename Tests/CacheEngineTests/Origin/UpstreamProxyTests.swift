import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

/// `engine.upstream_proxy`: origin requests go to the proxy in absolute form (`GET http://host/path`), the way
/// curl and browsers use a proxy for plain HTTP, never as a `CONNECT` tunnel (Squid refuses CONNECT to port 80).
/// The test origin plays the proxy: it serves the path of an absolute-form target from its own objects.
struct UpstreamProxyTests {
    /// An allowlisted CDN name; the proxy, not the engine, would resolve it, so nothing leaves loopback.
    static let cdn = "au.download.windowsupdate.com"
    static let path = "/c/msdownload/update/software/secu/2026/11/windows-kb.cab"

    /// Runs `body` with an engine whose upstream proxy, at `url(proxy)`, is a test origin; both are scoped to `body`.
    static func with(
        url: (TestOrigin) -> String = { "http://127.0.0.1:\($0.port)" },
        configure: (inout NodeConfiguration) -> Void = { _ in },
        _ body: (EngineHarness, TestOrigin) async throws -> Void
    ) async throws {
        try await EngineHarness.withOrigin { proxy in
            let configuration: (inout NodeConfiguration) -> Void = { configuration in
                configuration.engine.upstreamProxy = url(proxy)
                configure(&configuration)
            }
            try await EngineHarness.with(origin: proxy, configure: configuration) { harness in
                try await body(harness, proxy)
            }
        }
    }

    static func get(_ harness: EngineHarness, range: (Int, Int)? = nil) async throws -> TestResponse {
        let headers = range.map { [("Range", "bytes=\($0.0)-\($0.1)")] } ?? []
        return try await TestHTTPClient.get(port: harness.port, "\(path)?cacheHostOrigin=\(cdn)", headers: headers)
    }

    @Test func fillsAndHitsGoThroughTheProxyInAbsoluteFormWithCredentials() async throws {
        try await Self.with(url: { proxy in "http://cache:s3cr%40t@127.0.0.1:\(proxy.port)" }) { harness, proxy in
            let bytes = proxy.add(Self.path, length: 600_000, seed: 41)
            // The password holds an @, written percent-encoded in the URL.
            let expected = "Basic " + Data("cache:s3cr@t".utf8).base64EncodedString()
            proxy.requireProxyAuthorization(expected)
            let ranges = [(0, 99), (100_000, 199_999), (300_000, 450_000), (590_000, 599_999)]
            for _ in 0..<2 {
                for (start, end) in ranges {
                    let response = try await Self.get(harness, range: (start, end))
                    #expect(response.status == 206)
                    expectBytes(response.body, bytes[start...end], "bytes=\(start)-\(end)")
                }
            }
            expectBytes(try await Self.get(harness).body, bytes)
            #expect(proxy.connects == 0, "the engine tunnelled with CONNECT")
            let targets = proxy.absoluteTargets
            #expect(!targets.isEmpty)
            #expect(targets.allSatisfy { $0 == "http://\(Self.cdn)\(Self.path)" }, "\(targets)")
            #expect(proxy.hostHeaders.allSatisfy { $0 == Self.cdn })
            #expect(proxy.proxyAuthorizations.allSatisfy { $0 == expected })
            // Every byte was fetched once; the second pass and the whole object came from the cache where stored.
            #expect(proxy.bytesSent == bytes.count)
            // Kept-alive connections to the proxy are reused.
            #expect(proxy.connections < proxy.requests(Self.path), "every origin request opened a new connection")
        }
    }

    @Test func wrongProxyCredentialsGiveBadGatewayWithTheReason() async throws {
        try await Self.with(url: { proxy in "http://cache:wrong@127.0.0.1:\(proxy.port)" }) { harness, proxy in
            proxy.add(Self.path, length: 100_000, seed: 43)
            proxy.requireProxyAuthorization("Basic " + Data("cache:right".utf8).base64EncodedString())
            let response = try await Self.get(harness, range: (0, 999))
            #expect(response.status == 502)
            #expect(String(decoding: response.body, as: UTF8.self).contains("engine.upstream_proxy"))
            #expect(response.header("Proxy-Authenticate") == nil, "the proxy's challenge reached the device")
            #expect(await harness.engine.status().objects == 0)
        }
    }

    @Test func proxyClosingKeptAliveConnectionsIsRetried() async throws {
        try await Self.with { harness, proxy in
            let bytes = proxy.add(Self.path, length: 400_000, seed: 45)
            proxy.setFault(.dropReusedConnection, for: Self.path)
            for (start, end) in [(0, 99), (70_000, 140_000), (200_000, 399_999)] {
                let response = try await Self.get(harness, range: (start, end))
                #expect(response.status == 206)
                expectBytes(response.body, bytes[start...end])
            }
            #expect(proxy.requests(Self.path) > 3, "no kept-alive connection was reused: the case was not exercised")
            #expect(await harness.engine.status().originErrors == 0)
        }
    }

    @Test func proxyThatNeverAnswersTimesOutWithGatewayTimeout() async throws {
        try await Self.with(configure: { $0.engine.originReadTimeoutSeconds = 1 }) { harness, proxy in
            proxy.add(Self.path, length: 100_000, seed: 49)
            proxy.setFault(.hang, for: Self.path)
            let response = try await Self.get(harness, range: (0, 999))
            #expect(response.status == 504)
            #expect(await harness.engine.status().objects == 0)
        }
    }

    @Test func unreachableProxyGivesBadGateway() async throws {
        // Bound but not listening, and held for the whole test: connecting is refused, and the engine cannot be
        // given the same port for its own listener (it would then be its own proxy).
        let (closed, port) = try #require(boundLoopbackSocket())
        defer { close(closed) }
        try await Self.with(url: { _ in "http://127.0.0.1:\(port)" }) { harness, _ in
            let response = try await Self.get(harness, range: (0, 999))
            #expect(response.status == 502)
        }
    }

    @Test func proxyShortBodyIsCutAndNothingWrongIsStored() async throws {
        try await Self.with { harness, proxy in
            let bytes = proxy.add(Self.path, length: 300_000, seed: 47)
            expectBytes(try await Self.get(harness, range: (0, 99)).body, bytes[0...99])
            proxy.setFault(.shortBody(10_000), for: Self.path)
            let cut = try await Self.get(harness, range: (100_000, 250_000))
            #expect(cut.status == 502 || !cut.complete)
            FaultChecks.expectNeverWrong(cut, expected: Array(bytes[100_000...250_000]))
            proxy.setFault(nil, for: Self.path)
            expectBytes(try await Self.get(harness).body, bytes)
        }
    }
}
