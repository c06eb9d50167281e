import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import NIOCore
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The TLS listener: real curl and a NIO TLS client against the engine, its origin an HTTPS test origin (a request that
/// arrives over TLS is fetched over TLS only).
struct TLSListenerTests {
    static let length = 3_000_000

    @Test func curlThroughTheTLSListenerGetsExactBytesForMissesHitsAndRanges() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(tls: tls, configure: { $0.engine.https = tls.https() }) { harness in
            let bytes = harness.origin.add("/t.bin", length: Self.length, seed: 21)
            let port = try #require(harness.httpsPort)
            let url = "https://127.0.0.1:\(port)" + harness.target("/t.bin")
            let output = harness.directory.root + "/curl.out"

            let miss = try await Self.curl(url, ca: tls.caFile, output: output)
            #expect(miss.code == "200")
            expectBytes(miss.body, bytes)
            await harness.engine.settle()
            let hit = try await Self.curl(url, ca: tls.caFile, output: output)
            #expect(hit.code == "200")
            expectBytes(hit.body, bytes)
            var generator = SeededGenerator(state: 5)
            for _ in 0..<4 {
                let start = Int.random(in: 0..<(Self.length - 1), using: &generator)
                let end = min(Self.length - 1, start + Int.random(in: 0..<(1 << 20), using: &generator))
                let range = try await Self.curl(url, ca: tls.caFile, output: output, range: "\(start)-\(end)")
                #expect(range.code == "206")
                expectBytes(range.body, bytes[start...end])
            }
            // A range of an object not yet stored: a miss served while its blocks are filled.
            let other = harness.origin.add("/u.bin", length: Self.length, seed: 22)
            let partURL = "https://127.0.0.1:\(port)" + harness.target("/u.bin")
            let part = try await Self.curl(partURL, ca: tls.caFile, output: output, range: "1000000-2100000")
            #expect(part.code == "206")
            expectBytes(part.body, other[1_000_000...2_100_000])

            // A request's line is written once its response has gone out: wait for the last one.
            let log = harness.directory.accessLog
            func lines() -> [Substring] {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            }
            #expect(try await harness.eventually { lines().count == 7 })
            #expect(lines().allSatisfy { $0.hasSuffix(" scheme=https") }, "\(lines())")
            #expect(lines().first?.contains(" MISS ") == true && lines().dropFirst().first?.contains(" HIT ") == true)
            let plain = try await harness.get("/t.bin", headers: [("Range", "bytes=0-9")])
            expectBytes(plain.body, bytes[0...9])
            #expect(try await harness.eventually { lines().count == 8 })
            #expect(lines().last?.hasSuffix(" scheme=http") == true)

            let metrics = MetricsTests.samples(try await MetricsTests.scrape(harness))
            func value(_ labels: String) -> Double? {
                metrics.first { $0.name == "cachenode_scheme_requests_total" && $0.labels == labels }?.value
            }
            #expect(value(#"{scheme="https"}"#) == 7)
            #expect(value(#"{scheme="http"}"#) == 1)
            let expiry = metrics.first { $0.name == "cachenode_certificate_expiry_timestamp_seconds" }?.value
            let status = await harness.engine.status()
            #expect(expiry == status.https?.certificate?.notAfter.timeIntervalSince1970)
            // Every byte came from the origin over TLS.
            #expect(!harness.origin.serverNames.isEmpty, "the origin saw no TLS handshake")
        }
    }

    /// A request over TLS for an origin listed for plain HTTP only is refused: it would leave the node unencrypted.
    @Test func aRequestOverTLSForAPlainHTTPOriginIsRefusedAndNothingIsFetched() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(configure: { $0.engine.https = tls.https() }) { harness in
            harness.origin.add("/p.bin", length: 1000, seed: 28)
            let port = try #require(harness.httpsPort)
            let output = harness.directory.root + "/curl.out"
            let refused = try await Self.curl(
                "https://127.0.0.1:\(port)" + harness.target("/p.bin"),
                ca: tls.caFile,
                output: output
            )
            #expect(refused.code == "403")
            #expect(String(decoding: refused.body, as: UTF8.self).contains("https://"))
            #expect(harness.origin.requests("/p.bin") == 0)
            // The same object over plain HTTP is served as before.
            #expect(try await harness.get("/p.bin").status == 200)
        }
    }

    @Test func aRenewedCertificateIsServedOnTheNextHandshakeWhileAKeptAliveConnectionGoesOn() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.withDirectory { directory in
            let files = try tls.copies(in: directory.root + "/tls")
            try await EngineHarness.with(
                tls: tls,
                directory: directory,
                configure: { $0.engine.https = tls.https(certificate: files.certificate, key: files.key) }
            ) { harness in
                let bytes = harness.origin.add("/r.bin", length: 300_000, seed: 23)
                let port = try #require(harness.httpsPort)
                let started = await harness.engine.status()
                let before = try #require(started.https?.certificate?.fingerprint)
                try await TLSTestClient.withConnection(port: port, ca: tls.caFile) { connection in
                    let first = try await connection.get(harness.target("/r.bin"))
                    #expect(first.status == 200)
                    expectBytes(first.body, bytes)
                    let presented = try await connection.peerFingerprint()
                    #expect(presented == before)

                    let renewed = try tls.issue(names: ["localhost", "127.0.0.1"], file: Self.unique("renewed"))
                    try Self.replace(files.key, with: renewed.key)
                    try Self.replace(files.certificate, with: renewed.certificate)
                    let reload = try #require(harness.engine.reloadCertificates())
                    let after = try reload.get().fingerprint
                    #expect(after != before)

                    // The kept-alive connection goes on with the certificate its handshake had.
                    let second = try await connection.get(harness.target("/r.bin"), headers: [("Range", "bytes=5-99")])
                    #expect(second.status == 206)
                    expectBytes(second.body, bytes[5...99])
                    let kept = try await connection.peerFingerprint()
                    #expect(kept == before)

                    let fresh = try await TLSTestClient.withConnection(port: port, ca: tls.caFile) { fresh in
                        let answer = try await fresh.get(harness.target("/r.bin"), headers: [("Range", "bytes=0-9")])
                        expectBytes(answer.body, bytes[0...9])
                        return try await fresh.peerFingerprint()
                    }
                    #expect(fresh == after)
                }
                let status = await harness.engine.status()
                #expect(status.https?.problem == nil)
                #expect(status.https?.loadedAt != nil)
            }
        }
    }

    @Test func withoutCertificateFilesHandshakesAreRefusedUntilTheFilesAppear() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.withDirectory { directory in
            let folder = directory.root + "/tls"
            let (certificate, key) = (folder + "/certificate.pem", folder + "/key.pem")
            try await EngineHarness.with(
                tls: tls,
                directory: directory,
                configure: { $0.engine.https = tls.https(certificate: certificate, key: key) },
                certificateCheckInterval: .milliseconds(100)
            ) { harness in
                let port = try #require(harness.httpsPort)
                let missing = await harness.engine.status()
                #expect(missing.https?.certificate == nil)
                #expect(missing.https?.problem?.contains("\(certificate) does not exist") == true)
                #expect(missing.health.state == .degraded)
                #expect(missing.health.reasons.map(\.kind) == ["certificate_missing"])

                // Closed at once, before a byte: a TLS client fails, a plain connection reads its end.
                let closed = try await TestHTTPClient.blocking {
                    let fd = try TestHTTPClient.connect(port: port)
                    defer { close(fd) }
                    return try TestHTTPClient.receiveAll(fd)
                }
                #expect(closed.isEmpty)
                await #expect(throws: (any Error).self) {
                    _ = try await TLSTestClient.get(port: port, ca: tls.caFile, harness.target("/m.bin"))
                }
                // The plain listener serves meanwhile.
                let bytes = harness.origin.add("/m.bin", length: 100_000, seed: 24)
                expectBytes(try await harness.get("/m.bin").body, bytes)

                _ = try tls.copies(in: folder)
                let giveUp = ContinuousClock.now + .seconds(60)
                while await harness.engine.status().https?.certificate == nil, ContinuousClock.now < giveUp {
                    try await Task.sleep(for: .milliseconds(50))
                }
                let served = try await TLSTestClient.get(port: port, ca: tls.caFile, harness.target("/m.bin"))
                #expect(served.status == 200)
                expectBytes(served.body, bytes)
                let status = await harness.engine.status()
                #expect(status.https?.problem == nil)
                #expect(!status.health.reasons.contains { $0.kind == "certificate_missing" })
                let metrics = MetricsTests.samples(try await MetricsTests.scrape(harness))
                let refused = metrics.first {
                    $0.name == "cachenode_tls_handshake_failures_total" && $0.labels == #"{reason="refused"}"#
                }
                #expect((refused?.value ?? 0) >= 2)
            }
        }
    }

    @Test func aClientThatNeverSendsAClientHelloIsCutAtTheHandshakeDeadline() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(tls: tls, configure: { $0.engine.https = tls.https(handshakeTimeoutSeconds: 1) }) {
            harness in
            let port = try #require(harness.httpsPort)
            // The socket's own receive timeout (60 s) only keeps a broken engine from hanging the test.
            let received = try await TestHTTPClient.blocking {
                let fd = try TestHTTPClient.connect(port: port)
                defer { close(fd) }
                return try TestHTTPClient.receiveAll(fd)
            }
            #expect(received.isEmpty)
            let metrics = MetricsTests.samples(try await MetricsTests.scrape(harness))
            let timeouts = metrics.first {
                $0.name == "cachenode_tls_handshake_failures_total" && $0.labels == #"{reason="timeout"}"#
            }
            #expect(timeouts?.value == 1)
            let failures = metrics.first {
                $0.name == "cachenode_tls_handshake_failures_total" && $0.labels == #"{reason="failed"}"#
            }
            #expect(failures?.value == 0, "a cut at the deadline is counted once, as a timeout")
            let status = await harness.engine.status()
            #expect(status.connections == 0)
        }
    }

    @Test func plainHTTPToTheTLSListenerIsClosedAndCountedAsAFailedHandshake() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(tls: tls, configure: { $0.engine.https = tls.https() }) { harness in
            let port = try #require(harness.httpsPort)
            let answer = try await TestHTTPClient.raw(port: port, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            // No HTTP answer: at most a TLS alert (a record of type 21), never a status line.
            #expect(!String(decoding: answer, as: UTF8.self).contains("HTTP/1.1"))
            #expect(answer.isEmpty || answer.first == 21, "\(answer)")
            #expect(
                try await harness.eventually {
                    let metrics = MetricsTests.samples(try await MetricsTests.scrape(harness))
                    let failed = metrics.first {
                        $0.name == "cachenode_tls_handshake_failures_total" && $0.labels == #"{reason="failed"}"#
                    }
                    return failed?.value == 1
                }
            )
            #expect(try await harness.eventually { await harness.engine.status().connections == 0 })
        }
    }

    @Test func aClientThatCompletesItsHandshakeButSendsHalfARequestIsCutAtTheIdleDeadline() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(
            tls: tls,
            configure: {
                $0.engine.https = tls.https()
                // From the accept, as on plain HTTP: long enough for a handshake on a busy machine.
                $0.engine.idleTimeoutSeconds = 3
            }
        ) { harness in
            let port = try #require(harness.httpsPort)
            let rest = try await TLSTestClient.withConnection(port: port, ca: tls.caFile) { connection in
                // On a slow machine the deadline (from the accept) may already have cut the connection: then the
                // write fails, which is the same outcome.
                do {
                    try await connection.send(Array("GET /slow".utf8))
                } catch let error as ChannelError where error == .ioOnClosedChannel {
                    return [UInt8]()
                }
                return try await connection.readToClose()
            }
            #expect(rest.isEmpty)
            #expect(try await harness.eventually { await harness.engine.status().connections == 0 })
        }
    }

    @Test func oneConnectionCapCoversThePlainAndTheTLSListener() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(
            tls: tls,
            configure: {
                // The held TLS connection never says hello: only a stop may end it, not the handshake deadline.
                $0.engine.https = tls.https(handshakeTimeoutSeconds: 3600)
                // Nor may the idle deadline end the held plain one while a loaded machine runs the test.
                $0.engine.idleTimeoutSeconds = 3600
                $0.engine.maxConnections = 2
            }
        ) { harness in
            let bytes = harness.origin.add("/cap.bin", length: 10, seed: 27)
            let (plain, secure) = (harness.port, try #require(harness.httpsPort))
            let held = try await TestHTTPClient.blocking {
                [try TestHTTPClient.connect(port: plain), try TestHTTPClient.connect(port: secure)]
            }
            #expect(try await harness.eventually { await harness.engine.status().connections == 2 })
            // Over the cap on either listener: closed at once (over TLS before the handshake completes).
            await #expect(throws: (any Error).self) {
                _ = try await TLSTestClient.get(port: secure, ca: tls.caFile, harness.target("/cap.bin"))
            }
            let third = try await TestHTTPClient.raw(port: plain, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(third.isEmpty)
            held.forEach { close($0) }
            #expect(
                try await harness.eventually {
                    let answer = try? await TLSTestClient.get(port: secure, ca: tls.caFile, harness.target("/cap.bin"))
                    return answer?.body == bytes
                }
            )
        }
    }

    @Test func aKeyThatDoesNotMatchIsRefusedAtLoadAndThePreviousCertificateStays() async throws {
        let tls = try TLSFixture.shared()
        let other = try tls.issue(names: ["localhost"], file: Self.unique("other"))
        #expect(throws: TLSCertificateError.keyMismatch(certificate: tls.certificate, key: other.key)) {
            try LoadedCertificate.load(CertificateFiles(certificate: tls.certificate, key: other.key))
        }
        let message = TLSCertificateError.keyMismatch(certificate: tls.certificate, key: other.key).description
        #expect(message.contains("the key \(other.key) does not belong to the certificate \(tls.certificate)"))

        try await EngineHarness.withDirectory { directory in
            let files = try tls.copies(in: directory.root + "/tls")
            try await EngineHarness.with(
                tls: tls,
                directory: directory,
                configure: { $0.engine.https = tls.https(certificate: files.certificate, key: files.key) }
            ) { harness in
                let port = try #require(harness.httpsPort)
                let started = await harness.engine.status()
                let served = try #require(started.https?.certificate?.fingerprint)
                try Self.replace(files.key, with: other.key)
                let reload = try #require(harness.engine.reloadCertificates())
                #expect(throws: TLSCertificateError.self) { try reload.get() }
                let status = await harness.engine.status()
                #expect(status.https?.certificate?.fingerprint == served)
                let problem = try #require(status.https?.problem)
                #expect(problem.hasPrefix("the certificate loaded before is still served: the key"))
                let bytes = harness.origin.add("/k.bin", length: 10_000, seed: 25)
                let fingerprint = try await TLSTestClient.withConnection(port: port, ca: tls.caFile) { connection in
                    expectBytes(try await connection.get(harness.target("/k.bin")).body, bytes)
                    return try await connection.peerFingerprint()
                }
                #expect(fingerprint == served)
            }
        }
    }

    @Test(arguments: [
        (expired: true, names: ["localhost"], kind: "certificate_expired"),
        (expired: false, names: ["cache.contoso.org"], kind: "certificate_names"),
    ])
    func aCertificateThatClientsCannotUseMakesTheNodeDegraded(expired: Bool, names: [String], kind: String)
        async throws
    {
        let tls = try TLSFixture.shared()
        let issued = try tls.issue(names: ["localhost"], expired: expired, file: Self.unique("bad"))
        try await EngineHarness.with(
            tls: tls,
            configure: {
                $0.engine.https = tls.https(certificate: issued.certificate, key: issued.key)
                $0.engine.https?.names = names
            }
        ) { harness in
            let status = await harness.engine.status()
            #expect(status.health.state == .degraded)
            #expect(status.health.reasons.map(\.kind) == [kind])
            #expect(status.https?.requiredNames == names)
            let page = try await TestHTTPClient.get(port: harness.adminPort, "/")
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(html.contains("<td id=\"certificate-subject\">CN=localhost</td>"))
            #expect(html.contains("<td id=\"certificate-names\">localhost</td>"))
            #expect(html.contains("id=\"certificate-expiry\" class=\"\(expired ? "bad" : "good")\""))
        }
    }

    @Test func aStopEndsIdleAndBusyTLSConnections() async throws {
        let tls = try TLSFixture.shared()
        try await EngineHarness.with(tls: tls, configure: { $0.engine.https = tls.https() }) { harness in
            let bytes = harness.origin.add("/s.bin", length: 50_000, seed: 26)
            let port = try #require(harness.httpsPort)
            try await TLSTestClient.withConnection(port: port, ca: tls.caFile) { connection in
                expectBytes(try await connection.get(harness.target("/s.bin")).body, bytes)
                try await harness.stop()
                // The idle kept-alive connection was closed by the stop.
                let rest = try await connection.readToClose()
                #expect(rest.isEmpty)
            }
        }
    }

    /// Runs curl with `--cacert` and returns the status code and the body it wrote.
    static func curl(_ url: String, ca: String, output: String, range: String? = nil) async throws
        -> (code: String, body: [UInt8])
    {
        var arguments = ["curl", "-sS", "--cacert", ca, "-o", output, "-w", "%{http_code}"]
        if let range { arguments += ["-r", range] }
        let argv = arguments + [url]
        let result = try await TestHTTPClient.blocking { try ChildProcess.run(argv) }
        guard result.status == 0 else {
            throw TLSTestFailure(description: "curl \(url) failed (\(result.status)): \(result.stderr)")
        }
        return (result.stdout, Array(try Data(contentsOf: URL(fileURLWithPath: output))))
    }

    /// Puts `source`'s bytes at `path` by an atomic rename, as `cachenode cert install` and ACME clients do.
    static func replace(_ path: String, with source: String) throws {
        let temporary = path + ".new"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        guard rename(temporary, path) == 0 else {
            throw TLSTestFailure(description: "rename \(temporary) -> \(path): errno \(errno)")
        }
    }

    static func unique(_ name: String) -> String {
        "\(name)-\(UUID().uuidString.prefix(8))"
    }
}
