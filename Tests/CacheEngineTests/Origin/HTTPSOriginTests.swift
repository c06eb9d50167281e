import CacheNodeCore
import CacheNodeTestSupport
import CacheProtocol
import Foundation
import NIOSSL
import Testing

@testable import CacheEngine

/// A test CA made by openssl and an HTTPS test origin on loopback with a certificate it issued, in a temporary folder.
struct HTTPSOriginFixture {
    let authority: TestCertificateAuthority
    let origin: TestOrigin
    let folder: String

    /// Runs `body` with an origin whose certificate names `names`, issued by a new CA (or, `signedByAnother`, by a
    /// second CA the engine is not told of); the origin stops and the folder goes, returned or thrown.
    static func with<T>(
        names: [String] = ["127.0.0.1"],
        signedByAnother: Bool = false,
        expired: Bool = false,
        _ body: (HTTPSOriginFixture) async throws -> T
    ) async throws -> T {
        let folder = NSTemporaryDirectory() + "cachenode-https-origin-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try TestCertificateAuthority.make(in: folder + "/ca")
        let issuer =
            signedByAnother ? try TestCertificateAuthority.make(in: folder + "/other", name: "Other CA") : authority
        let leaf = try issuer.issue(names: names, expired: expired, file: "origin")
        let origin = try await TestOrigin.start(tls: leaf)
        let fixture = HTTPSOriginFixture(authority: authority, origin: origin, folder: folder)
        do {
            let result = try await body(fixture)
            await origin.stop()
            return result
        } catch {
            await origin.stop()
            throw error
        }
    }

    /// The engine trusts the fixture's CA through `engine.origin_ca_file` and lists `https://<host>:<port>`.
    func configure(host: String = "127.0.0.1") -> (inout NodeConfiguration) -> Void {
        let (entry, caFile) = ("https://\(host):\(origin.port)", authority.certificatePath)
        return { configuration in
            configuration.engine.extraOrigins.append(entry)
            configuration.engine.originCAFile = caFile
        }
    }
}

/// Origins listed as `https://` are fetched over TLS, verified against the system's CAs plus `engine.origin_ca_file`,
/// whatever scheme the client used to reach the cache.
struct HTTPSOriginTests {
    /// Clients here speak plain HTTP to the engine: an origin listed as https:// is still fetched over TLS.
    @Test func wholeObjectsAndRangesComeOverTLSWithExactBytes() async throws {
        try await HTTPSOriginFixture.with { fixture in
            try await EngineHarness.with(origin: fixture.origin, configure: fixture.configure()) { harness in
                let bytes = fixture.origin.add("/app.intunewin", length: 700_000, seed: 61)
                for pass in 0..<2 {
                    for (start, end) in [(0, 99), (100_000, 299_999), (650_000, 699_999)] {
                        let response = try await harness.get(
                            "/app.intunewin",
                            headers: [("Range", "bytes=\(start)-\(end)")]
                        )
                        #expect(
                            response.status == 206,
                            "pass \(pass): \(String(decoding: response.body, as: UTF8.self))"
                        )
                        expectBytes(response.body, bytes[start...end], "bytes=\(start)-\(end), pass \(pass)")
                    }
                }
                await harness.engine.settle()
                expectBytes(try await harness.get("/app.intunewin").body, bytes)
                // Every byte came from the origin once, over TLS, on kept-alive connections; an IP origin gets no SNI.
                #expect(fixture.origin.bytesSent == bytes.count)
                let handshakes = fixture.origin.serverNames
                #expect(!handshakes.isEmpty && handshakes.allSatisfy { $0 == nil }, "\(handshakes)")
                #expect(handshakes.count < fixture.origin.requests("/app.intunewin"), "no connection was reused")
                #expect(fixture.origin.hostHeaders.allSatisfy { $0 == fixture.origin.authority })
                #expect(await harness.engine.status().hits >= 1)
            }
        }
    }

    /// A named origin: the connection goes to the address the policy checked, the certificate is verified for the
    /// name, and the name is sent as SNI.
    @Test func aNamedOriginIsVerifiedForItsNameAtTheCheckedAddress() async throws {
        try await HTTPSOriginFixture.with(names: ["origin.test"]) { fixture in
            try await EngineHarness.with(
                origin: fixture.origin,
                configure: fixture.configure(host: "origin.test"),
                resolver: StubResolver()
            ) { harness in
                let bytes = fixture.origin.add("/teams.msix", length: 300_000, seed: 63)
                let target = "/teams.msix?cacheHostOrigin=origin.test:\(fixture.origin.port)"
                let response = try await TestHTTPClient.get(
                    port: harness.port,
                    target,
                    headers: [("Range", "bytes=5-70004")]
                )
                #expect(response.status == 206)
                expectBytes(response.body, bytes[5...70_004])
                await harness.engine.settle()
                expectBytes(try await TestHTTPClient.get(port: harness.port, target).body, bytes)
                #expect(fixture.origin.serverNames.allSatisfy { $0 == "origin.test" }, "\(fixture.origin.serverNames)")
                #expect(fixture.origin.hostHeaders.allSatisfy { $0 == "origin.test:\(fixture.origin.port)" })
            }
        }
    }

    /// An entry without a port: a request that names the port is fetched there over TLS; the port is the origin's.
    @Test func anEntryWithoutAPortServesTheNamedPort() async throws {
        try await HTTPSOriginFixture.with { fixture in
            try await EngineHarness.with(
                origin: fixture.origin,
                configure: {
                    $0.engine.extraOrigins = ["https://127.0.0.1"];
                    $0.engine.originCAFile = fixture.authority.certificatePath
                }
            ) { harness in
                let bytes = fixture.origin.add("/p.bin", length: 100_000, seed: 65)
                expectBytes(try await harness.get("/p.bin").body, bytes)
                #expect(!fixture.origin.serverNames.isEmpty)
            }
        }
    }

    @Test(
        arguments: [
            (["127.0.0.1"], true, false, "does not verify against the system's CAs and engine.origin_ca_file"),
            (["127.0.0.1"], false, true, "does not verify against the system's CAs and engine.origin_ca_file"),
            (["other.test"], false, false, "does not name 127.0.0.1"),
        ] as [([String], Bool, Bool, String)]
    )
    func aCertificateThatDoesNotVerifyIsAnOriginFailureWithItsReason(
        names: [String],
        signedByAnother: Bool,
        expired: Bool,
        reason: String
    ) async throws {
        try await HTTPSOriginFixture.with(names: names, signedByAnother: signedByAnother, expired: expired) { fixture in
            try await EngineHarness.with(origin: fixture.origin, configure: fixture.configure()) { harness in
                fixture.origin.add("/f.bin", length: 100_000, seed: 67)
                let response = try await harness.get("/f.bin")
                let text = String(decoding: response.body, as: UTF8.self)
                #expect(response.status == 502)
                #expect(text.contains(reason), "\(text)")
                #expect(fixture.origin.requests("/f.bin") == 0, "a request went out over a connection not verified")
                #expect(await harness.engine.status().objects == 0)
                let reasons = harness.engine.health.current().health.reasons
                #expect(reasons.contains { $0.detail.contains(reason) }, "\(reasons)")
            }
        }
    }

    /// The certificate is verified for the origin's name, not for the address the engine connects to.
    @Test func aCertificateForTheAddressDoesNotServeTheName() async throws {
        try await HTTPSOriginFixture.with(names: ["127.0.0.1"]) { fixture in
            try await EngineHarness.with(
                origin: fixture.origin,
                configure: fixture.configure(host: "origin.test"),
                resolver: StubResolver()
            ) { harness in
                fixture.origin.add("/n.bin", length: 10_000, seed: 69)
                let target = "/n.bin?cacheHostOrigin=origin.test:\(fixture.origin.port)"
                let response = try await TestHTTPClient.get(port: harness.port, target)
                #expect(response.status == 502)
                #expect(String(decoding: response.body, as: UTF8.self).contains("does not name origin.test"))
            }
        }
    }

    /// A certificate identifies a named origin by a DNS name (a wildcard stands for one whole label) and an IP-address
    /// origin by an IP-address name: never by the address the socket is connected to (NIOSSL's own rule), which is
    /// the proxy's in a tunnel.
    @Test func aCertificateIdentifiesANameByDNSNameAndAnAddressByIPName() throws {
        let folder = NSTemporaryDirectory() + "cachenode-origin-names-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try TestCertificateAuthority.make(in: folder)
        let leaf = try authority.issue(names: ["*.example.test", "origin.test", "127.0.0.1", "::1"], file: "leaf")
        let certificate = try #require(try NIOSSLCertificate.fromPEMFile(leaf.certificate).first)
        for origin in ["a.example.test", "A.Example.Test.", "origin.test", "origin.test.", "127.0.0.1", "::1"] {
            #expect(OriginTLS.certificate(certificate, identifies: origin), "\(origin)")
        }
        let others = ["example.test", "a.b.example.test", ".example.test", "other.test", "test", "127.0.0.2", "::2"]
        for origin in others {
            #expect(!OriginTLS.certificate(certificate, identifies: origin), "\(origin)")
        }
    }

    /// An origin that takes the connection but never answers the TLS handshake (a listening socket nobody accepts on)
    /// is cut at the connect timeout: a 504, and nothing stored.
    @Test func aStalledHandshakeIsCutAtTheConnectTimeout() async throws {
        let silent = try #require(boundLoopbackSocket(listening: true))
        defer { close(silent.fd) }
        try await EngineHarness.with(configure: {
            $0.engine.extraOrigins.append("https://127.0.0.1:\(silent.port)")
            $0.engine.originConnectTimeoutSeconds = 1
        }) { harness in
            let response = try await TestHTTPClient.get(
                port: harness.port,
                "/stalled.bin?cacheHostOrigin=127.0.0.1:\(silent.port)"
            )
            #expect(response.status == 504, "\(String(decoding: response.body.prefix(300), as: UTF8.self))")
            #expect(await harness.engine.status().objects == 0)
        }
    }

    /// Without the CA file the test CA is not trusted: the system's CAs alone do not verify the origin.
    @Test func theSystemCAsAloneDoNotTrustTheTestCA() async throws {
        try await HTTPSOriginFixture.with { fixture in
            let entry = "https://127.0.0.1:\(fixture.origin.port)"
            try await EngineHarness.with(origin: fixture.origin, configure: { $0.engine.extraOrigins.append(entry) }) {
                harness in
                fixture.origin.add("/s.bin", length: 10_000, seed: 71)
                let response = try await harness.get("/s.bin")
                #expect(response.status == 502)
                #expect(String(decoding: response.body, as: UTF8.self).contains("does not verify"))
            }
        }
    }

    /// What the responder does for a request that arrived over TLS (the TLS listener passes the flag): it is allowed
    /// for an https:// origin, fetched over TLS, and names the same object as the same request over plain HTTP.
    @Test func aRequestOverTLSAndOneOverHTTPNameTheSameObject() async throws {
        try await HTTPSOriginFixture.with { fixture in
            let configure = fixture.configure()
            try await EngineHarness.with(origin: fixture.origin, configure: configure) { harness in
                let bytes = fixture.origin.add("/same.bin", length: 200_000, seed: 73)
                let target = harness.target("/same.bin")
                let overTLS = try CacheRequest.parse(target: target, hostHeader: "cache.example", arrivedOverTLS: true)
                let overHTTP = try CacheRequest.parse(target: target, hostHeader: "cache.example")
                #expect(overTLS.cacheKey == overHTTP.cacheKey)
                var configuration = harness.directory.configuration(driveBytes: 1 << 30, blockSize: 64 * 1024)
                configure(&configuration)
                let policy = OriginPolicy(
                    allowlist: OriginAllowlist(patterns: [], extra: configuration.engine.extraOrigins),
                    listen: nil
                )
                #expect(policy.check(overTLS) == .allow)
                #expect(policy.check(overTLS, resolved: [IPAddress("127.0.0.1")!]) == .allow)
                // The fill starts from the request over TLS; the client over plain HTTP then gets the stored bytes.
                guard case .object(let meta, _) = await harness.engine.cache.lookup(overTLS, address: nil, start: 0)
                else {
                    Issue.record("the lookup over TLS did not find the object")
                    return
                }
                #expect(meta.length == Int64(bytes.count))
                await harness.engine.settle()
                let sent = fixture.origin.bytesSent
                let response = try await harness.get("/same.bin", headers: [("Range", "bytes=0-65535")])
                expectBytes(response.body, bytes[0...65_535])
                #expect(fixture.origin.bytesSent == sent, "the plain-HTTP request fetched the block again")
                #expect(!fixture.origin.serverNames.isEmpty)
            }
        }
    }

    /// A request over TLS for an origin listed for plain HTTP is refused (403) before anything is fetched; the
    /// origin client refuses it too, should a caller skip the policy.
    @Test func aRequestOverTLSForAPlainOriginIsNeverFetchedOverHTTP() async throws {
        try await EngineHarness.with { harness in
            harness.origin.add("/plain.bin", length: 10_000, seed: 75)
            let request = try CacheRequest.parse(
                target: harness.target("/plain.bin"),
                hostHeader: nil,
                arrivedOverTLS: true
            )
            let policy = OriginPolicy(allowlist: OriginAllowlist(patterns: [], extra: ["127.0.0.1"]), listen: nil)
            guard case .refuse(let reason) = policy.check(request) else {
                Issue.record("a request over TLS for a plain origin was allowed")
                return
            }
            #expect(reason.contains("list it as https://127.0.0.1"), "\(reason)")
            await #expect(throws: OriginFailure.self) {
                _ = try await harness.engine.cache.origin.send(request, address: nil, headers: [])
            }
            #expect(harness.origin.requests("/plain.bin") == 0)
        }
    }

    @Test(
        arguments: [
            ("missing.pem", nil, "does not exist"),
            ("text.pem", "not a certificate\n", "holds no PEM certificate"),
            (
                "garbage.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
                "is not a PEM file of certificates"
            ),
            ("empty.pem", "", "holds no PEM certificate"),
        ] as [(String, String?, String)]
    )
    func aBadCAFileStopsTheStartNamingTheSetting(file: String, content: String?, reason: String) throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        var configuration = directory.configuration(driveBytes: 1 << 30, blockSize: 64 * 1024)
        let path = directory.root + "/" + file
        if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
        configuration.engine.originCAFile = path
        do {
            _ = try CacheEngine(configuration: configuration, allowlist: OriginAllowlist(patterns: []))
            Issue.record("the engine started with \(file)")
        } catch {
            #expect(error.description.hasPrefix("engine.origin_ca_file: \(path)"), "\(error)")
            #expect(error.description.contains(reason), "\(error)")
        }
    }
}
