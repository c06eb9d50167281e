import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `systemctl reload cachenode` (SIGHUP) makes a running `cachenode serve` present a renewed certificate on its TLS
/// listener, without a restart.
struct CertificateReloadEndToEndTests {
    @Test func aReloadServesTheRenewedCertificateOnTheNextHandshake() throws {
        let directory = TestCacheDirectory(prefix: "cert-reload")
        defer { directory.remove() }
        let authority = try TestCertificateAuthority.make(in: directory.root + "/ca")
        let first = try authority.issue(names: ["localhost", "127.0.0.1"], file: "first")
        let renewed = try authority.issue(names: ["localhost", "127.0.0.1"], file: "renewed")
        let folder = directory.state + "/tls"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (certificate, key) = (folder + "/certificate.pem", folder + "/key.pem")
        try FileManager.default.copyItem(atPath: first.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: first.key, toPath: key)

        let httpsPort = freeLoopbackPort()
        let config = directory.state + "/cachenode.yaml"
        let yaml =
            directory.yaml(listenPort: freeLoopbackPort(), adminPort: freeLoopbackPort())
                + """
                  https:
                    listen: 127.0.0.1:\(httpsPort)
                    certificate_file: \(certificate)
                    key_file: \(key)
                    names: [localhost, 127.0.0.1]

                """
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let engine = try BackgroundProcess(["serve", "--config", config], outputPath: directory.root + "/engine.log")
        defer { engine.stop() }

        let before = try Self.fingerprint(file: first.certificate)
        let after = try Self.fingerprint(file: renewed.certificate)
        #expect(before != after)
        #expect(
            engine.wait { (try? Self.presented(port: httpsPort, ca: authority.certificatePath)) == before },
            "\(engine.output)"
        )

        // As certbot's deploy hook or `cachenode cert install` would: the key, then the certificate, each renamed in.
        for (source, target) in [(renewed.key, key), (renewed.certificate, certificate)] {
            try FileManager.default.copyItem(atPath: source, toPath: target + ".new")
            #expect(rename(target + ".new", target) == 0)
        }
        engine.process.signal(SIGHUP)
        #expect(
            engine.wait { (try? Self.presented(port: httpsPort, ca: authority.certificatePath)) == after },
            "\(engine.output)"
        )
        #expect(engine.output.contains("reload: reading the TLS certificate files"), "\(engine.output)")
        #expect(engine.process.isRunning, "the engine was reloaded, not restarted")
        #expect(engine.stop() == 0)
    }

    /// The SHA-256 fingerprint of a PEM certificate, as openssl prints it.
    static func fingerprint(file: String) throws -> String {
        let result = try ChildProcess.run(["openssl", "x509", "-in", file, "-noout", "-fingerprint", "-sha256"])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The fingerprint of the certificate the TLS listener presents to `openssl s_client` that trusts `ca`; `nil`
    /// when the handshake fails or the certificate is not trusted.
    static func presented(port: Int, ca: String) throws -> String? {
        let handshake = try ChildProcess.run(
            [
                "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", ca,
                "-verify_return_error", "-alpn", "http/1.1",
            ],
            stdin: ""
        )
        guard handshake.status == 0, handshake.stdout.contains("ALPN protocol: http/1.1") else { return nil }
        let printed = try ChildProcess.run(
            ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
            stdin: handshake.stdout
        )
        return printed.status == 0 ? printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }
}
