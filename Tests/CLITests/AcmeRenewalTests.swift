import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `certbot` against Debian's `pebble` ACME test server, both on loopback: a certificate issued and
/// installed by certbot's deploy hook (`cachenode cert install`), renewed and installed again, and served by the
/// engine's TLS listener without a restart.
@Suite(.serialized)
struct AcmeRenewalTests {
    @Test func certbotIssuesAndRenewsThroughTheDeployHook() async throws {
        try await TLSTrial.with(names: ["cachenode.test"]) { trial in
            let pebble = try Pebble.start(in: trial.work.appendingPathComponent("pebble").path)
            defer { pebble.process.signal(SIGTERM) }
            let certbot = Certbot(directory: trial.work.appendingPathComponent("certbot").path, pebble: pebble)
            let enginePid = try #require(trial.enginePid)
            let hook =
                "\(CLIRunner.binary) cert install --root \(trial.root.path) --key \"$RENEWED_LINEAGE/privkey.pem\" "
                + "--chain \(pebble.rootPath) \"$RENEWED_LINEAGE/fullchain.pem\" >>\(certbot.hookLog) 2>&1"

            let issued = try certbot.run([
                "certonly", "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port",
                "\(freeLoopbackPort())", "-d", "cachenode.test", "--deploy-hook", hook,
            ])
            #expect(issued.status == 0, "\(issued.stdout)\(issued.stderr)")
            let first = try CertCommandTests.fingerprint(certbot.lineage + "/cert.pem")
            #expect(try CertCommandTests.fingerprint(trial.certificate) == first, "\(certbot.hookOutput)")
            #expect(FileManager.default.contents(atPath: trial.key) == certbot.file("privkey.pem"))
            #expect(certbot.hookOutput.contains("Installed the HTTPS certificate of node Trial-1:"))
            #expect(certbot.hookOutput.contains("The engine reloads (SIGHUP to the engine, pid \(enginePid))"))
            #expect(!FileManager.default.fileExists(atPath: trial.requestKey), "the request setup made is done")
            try await Self.expectServed(first, trial: trial)

            let renewed = try certbot.run(["renew", "--force-renewal", "--no-random-sleep-on-renew"])
            #expect(renewed.status == 0, "\(renewed.stdout)\(renewed.stderr)")
            let second = try CertCommandTests.fingerprint(certbot.lineage + "/cert.pem")
            #expect(second != first)
            #expect(try CertCommandTests.fingerprint(trial.certificate) == second, "\(certbot.hookOutput)")
            #expect(FileManager.default.contents(atPath: trial.key) == certbot.file("privkey.pem"))
            #expect(trial.enginePid == enginePid, "the engine was restarted")
            try await Self.expectServed(second, trial: trial)
        }
    }

    /// The engine serves the certificate with `fingerprint` (as `openssl x509 -fingerprint -sha256` prints it) on its
    /// next handshake: `/status` names it, and `openssl s_client` gets it from the TLS listener. An engine without a
    /// TLS listener (no `https` in its `/status`) has nothing to check here.
    static func expectServed(_ fingerprint: String, trial: TLSTrial) async throws {
        let expected = "SHA256:" + (fingerprint.split(separator: "=").last.map(String.init) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var served: String?
        for _ in 0..<600 {
            let status = try await TestHTTPClient.get(port: trial.admin, "/status")
            let document = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
            guard let https = document?["https"] as? [String: Any] else { return }
            served = (https["certificate"] as? [String: Any])?["fingerprint"] as? String
            if served == expected { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(served == expected, "/status does not name the installed certificate")
        let handshake = try ChildProcess.run(
            [
                "openssl", "s_client", "-connect", "127.0.0.1:\(trial.httpsPort)", "-servername", "cachenode.test",
                "-CAfile", trial.work.appendingPathComponent("pebble/root.pem").path,
            ],
            stdin: ""
        )
        let certificate = trial.work.appendingPathComponent("served.pem").path
        try handshake.stdout.write(toFile: certificate, atomically: true, encoding: .utf8)
        #expect(try CertCommandTests.fingerprint(certificate) == fingerprint, "\(handshake.stderr)")
        #expect(handshake.stdout.contains("Verify return code: 0 (ok)"), "\(handshake.stdout)")
    }
}

/// Debian's pebble on loopback ports of its own, with a TLS certificate from a test CA (the package ships none) and
/// every challenge taken as valid (`PEBBLE_VA_ALWAYS_VALID`), so no validation traffic is needed.
struct Pebble {
    let process: ChildProcess
    let directory: String
    let port: Int
    /// The test CA that signed pebble's own HTTPS certificate: what certbot trusts (`REQUESTS_CA_BUNDLE`).
    let authority: TestCertificateAuthority
    /// Pebble's issuing root (made anew at each start), fetched from its management interface.
    var rootPath: String { directory + "/root.pem" }

    static func start(in directory: String) throws -> Pebble {
        let authority = try TestCertificateAuthority.make(in: directory + "/ca")
        let tls = try authority.issue(names: ["127.0.0.1", "localhost"], file: "pebble")
        let (port, management) = (freeLoopbackPort(), freeLoopbackPort())
        let configuration = """
            {"pebble": {"listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(management)",
            "certificate": "\(tls.certificate)", "privateKey": "\(tls.key)", "httpPort": \(freeLoopbackPort()),
            "tlsPort": \(freeLoopbackPort()), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
        try configuration.write(toFile: directory + "/pebble.json", atomically: true, encoding: .utf8)
        let log = directory + "/pebble.log"
        let process = try ChildProcess(
            ["pebble", "-config", directory + "/pebble.json"],
            outputPath: log,
            environment: ["PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"]
        )
        let pebble = Pebble(process: process, directory: directory, port: port, authority: authority)
        try pebble.fetchRoot(management: management, log: log)
        return pebble
    }

    /// Waits for the management interface and keeps pebble's root (`/roots/0`).
    private func fetchRoot(management: Int, log: String) throws {
        for _ in 0..<600 {
            guard process.isRunning else { break }
            let result = try ChildProcess.run([
                "curl", "-sf", "--cacert", authority.certificatePath, "-o", rootPath,
                "https://127.0.0.1:\(management)/roots/0",
            ])
            if result.status == 0 { return }
            usleep(50_000)
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw CLIRunner.Failure(description: "pebble did not start: \(output)")
    }
}

/// Debian's certbot with every directory in the test's folder, talking to `pebble`.
struct Certbot {
    let directory: String
    let pebble: Pebble

    var hookLog: String { directory + "/hook.log" }
    var hookOutput: String { (try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "" }
    var lineage: String { directory + "/config/live/cachenode.test" }

    func file(_ name: String) -> Data? { FileManager.default.contents(atPath: lineage + "/" + name) }

    func run(_ arguments: [String]) throws -> ChildProcess.Result {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try ChildProcess.run(
            ["certbot"] + arguments + [
                "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
                "--server", "https://127.0.0.1:\(pebble.port)/dir",
                "--config-dir", directory + "/config", "--work-dir", directory + "/work",
                "--logs-dir", directory + "/logs",
            ],
            environment: ["REQUESTS_CA_BUNDLE": pebble.authority.certificatePath]
        )
    }
}
