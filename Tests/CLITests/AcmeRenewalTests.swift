import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `certbot` against Debian's `pebble` ACME test server, everything on loopback: pebble resolves the node's
/// name through `pebble-challtestsrv` (a DNS server on 127.0.0.1 that answers 127.0.0.1) and validates the HTTP-01
/// challenge against certbot's standalone server on 127.0.0.1, so no packet leaves the machine. The certificate is
/// issued and installed by certbot's deploy hook (`cachenode cert install`), renewed and installed again, and a TLS
/// server given the installed files serves it to curl, which verifies it against pebble's root.
@Suite(.serialized)
struct AcmeRenewalTests {
    @Test func certbotIssuesAndRenewsThroughTheDeployHook() async throws {
        try await TLSTrial.with(names: ["cachenode.test"]) { trial in
            let acme = trial.work.appendingPathComponent("acme").path
            let dns = try LoopbackDNS.start(in: acme + "/dns")
            defer { dns.process.signal(SIGTERM) }
            let challengePort = freeLoopbackPort()
            let pebble = try Pebble.start(in: acme + "/pebble", dns: dns.address, challengePort: challengePort)
            defer { pebble.process.signal(SIGTERM) }
            let certbot = Certbot(directory: acme + "/certbot", pebble: pebble)
            let enginePid = try #require(trial.enginePid)
            let hook =
                "\(CLIRunner.binary) cert install --root \(trial.root.path) --key \"$RENEWED_LINEAGE/privkey.pem\" "
                + "--chain \(pebble.rootPath) \"$RENEWED_LINEAGE/fullchain.pem\" >>\(certbot.hookLog) 2>&1"

            let issued = try certbot.run([
                "certonly", "--standalone", "--preferred-challenges", "http", "--http-01-address", "127.0.0.1",
                "--http-01-port", "\(challengePort)", "-d", "cachenode.test", "--deploy-hook", hook,
            ])
            #expect(issued.status == 0, "\(issued.stdout)\(issued.stderr)\n\(pebble.log)")
            #expect(pebble.log.contains("Attempting to validate w/ HTTP: http://cachenode.test:\(challengePort)/"))
            let first = try CertCommandTests.fingerprint(certbot.lineage + "/cert.pem")
            #expect(try CertCommandTests.fingerprint(trial.certificate) == first, "\(certbot.hookOutput)")
            #expect(FileManager.default.contents(atPath: trial.key) == certbot.file("privkey.pem"))
            #expect(try CertCommandTests.mode(trial.key) == 0o600)
            #expect(certbot.hookOutput.contains("Installed the HTTPS certificate of node Trial-1:"))
            #expect(certbot.hookOutput.contains("The engine reloads (SIGHUP to the engine, pid \(enginePid))"))
            // certbot's own key went in: the request setup made stays, and the hook's output says so.
            #expect(FileManager.default.fileExists(atPath: trial.requestKey))
            #expect(certbot.hookOutput.contains("The request \(trial.request) is still pending (for cachenode.test)"))
            try await Self.expectServed(first, trial: trial, root: pebble.rootPath)

            let renewed = try certbot.run(["renew", "--force-renewal", "--no-random-sleep-on-renew"])
            #expect(renewed.status == 0, "\(renewed.stdout)\(renewed.stderr)\n\(pebble.log)")
            let second = try CertCommandTests.fingerprint(certbot.lineage + "/cert.pem")
            #expect(second != first)
            #expect(try CertCommandTests.fingerprint(trial.certificate) == second, "\(certbot.hookOutput)")
            #expect(FileManager.default.contents(atPath: trial.key) == certbot.file("privkey.pem"))
            #expect(trial.enginePid == enginePid, "the engine was restarted")
            try await Self.expectServed(second, trial: trial, root: pebble.rootPath)
        }
    }

    /// The installed files serve the certificate with `fingerprint` (as `openssl x509 -fingerprint -sha256` prints
    /// it): a TLS server (`openssl s_server`) given the node's certificate file (with its chain) and key hands it to
    /// curl, which verifies it, its chain and the name against `root`; the engine's TLS listener serves the same
    /// certificate from its next handshake, without a restart.
    static func expectServed(_ fingerprint: String, trial: TLSTrial, root: String) async throws {
        let port = freeLoopbackPort()
        let (leaf, chain) = try Self.split(trial.certificate, into: trial.work.appendingPathComponent("served").path)
        let server = try ChildProcess(
            [
                "openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", leaf, "-cert_chain", chain, "-key",
                trial.key, "-www", "-quiet",
            ],
            outputPath: trial.work.appendingPathComponent("s_server.log").path
        )
        defer { server.signal(SIGTERM) }
        #expect(try Self.servedFingerprint(port: port, root: root, trial: trial) == fingerprint)

        var engineServes: String?
        for _ in 0..<600 {
            let status = try await TestHTTPClient.get(port: trial.admin, "/status")
            let document = try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any]
            let https = try #require(document?["https"] as? [String: Any], "/status has no https")
            engineServes = (https["certificate"] as? [String: Any])?["fingerprint"] as? String
            if engineServes == "SHA256:" + Self.hex(fingerprint) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(engineServes == "SHA256:" + Self.hex(fingerprint), "/status does not name the installed certificate")
        #expect(try Self.servedFingerprint(port: trial.httpsPort, root: root, trial: trial) == fingerprint)
    }

    /// The fingerprint of the certificate the TLS server on `port` presents for `cachenode.test`, which curl
    /// verified against `root`; waits (bounded) for the server to listen.
    static func servedFingerprint(port: Int, root: String, trial: TLSTrial) throws -> String {
        var attempt: ChildProcess.Result?
        for _ in 0..<600 {
            attempt = try ChildProcess.run([
                "curl", "-sS", "-o", "/dev/null", "--cacert", root, "--resolve", "cachenode.test:\(port):127.0.0.1",
                "-w", "%{certs}", "https://cachenode.test:\(port)/",
            ])
            // 7: nothing listens yet.
            guard attempt?.status == 7 else { break }
            usleep(50_000)
        }
        guard let result = attempt, result.status == 0,
            let begin = result.stdout.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = result.stdout.range(of: "-----END CERTIFICATE-----")
        else {
            throw CLIRunner.Failure(
                description: "curl on port \(port) (exit \(attempt?.status ?? -1)): \(attempt?.stderr ?? "")"
            )
        }
        let served = trial.work.appendingPathComponent("served-\(port).pem").path
        try (result.stdout[begin.lowerBound..<end.upperBound] + "\n").write(
            toFile: served,
            atomically: true,
            encoding: .utf8
        )
        return try CertCommandTests.fingerprint(served)
    }

    /// The first certificate of a PEM file, and the rest (its chain), in files of their own beside `base`.
    static func split(_ path: String, into base: String) throws -> (leaf: String, chain: String) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let blocks = text.components(separatedBy: "-----END CERTIFICATE-----\n").filter { $0.contains("BEGIN") }
            .map { $0 + "-----END CERTIFICATE-----\n" }
        try #require(blocks.count >= 2, "\(path) holds no chain after the certificate")
        try blocks[0].write(toFile: base + "-leaf.pem", atomically: true, encoding: .utf8)
        try blocks.dropFirst().joined().write(toFile: base + "-chain.pem", atomically: true, encoding: .utf8)
        return (base + "-leaf.pem", base + "-chain.pem")
    }

    /// `AB:CD:...` from `sha256 Fingerprint=AB:CD:...`.
    static func hex(_ fingerprint: String) -> String {
        (fingerprint.split(separator: "=").last.map(String.init) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `pebble-challtestsrv` as a DNS server on a loopback port, answering every A query with 127.0.0.1 and no AAAA
/// (certbot's challenge server listens on 127.0.0.1 alone); its challenge servers are off.
struct LoopbackDNS {
    let process: ChildProcess
    let address: String

    static func start(in directory: String) throws -> LoopbackDNS {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let address = "127.0.0.1:\(freeLoopbackPort())"
        let log = directory + "/challtestsrv.log"
        let process = try ChildProcess(
            [
                "pebble-challtestsrv", "-dns01", address, "-http01", "", "-https01", "", "-tlsalpn01", "",
                "-management", "127.0.0.1:\(freeLoopbackPort())", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            ],
            outputPath: log
        )
        for _ in 0..<600 {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if output.contains("Starting management server") { return LoopbackDNS(process: process, address: address) }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw CLIRunner.Failure(description: "pebble-challtestsrv did not start: \(output)")
    }
}

/// Debian's pebble on loopback ports of its own, with a TLS certificate from a test CA (the package ships none),
/// resolving names through `dns` and validating HTTP-01 challenges on `challengePort`.
struct Pebble {
    let process: ChildProcess
    let directory: String
    let port: Int
    /// The test CA that signed pebble's own HTTPS certificate: what certbot trusts (`REQUESTS_CA_BUNDLE`).
    let authority: TestCertificateAuthority
    /// Pebble's issuing root (made anew at each start), fetched from its management interface.
    var rootPath: String { directory + "/root.pem" }
    var log: String { (try? String(contentsOfFile: directory + "/pebble.log", encoding: .utf8)) ?? "" }

    static func start(in directory: String, dns: String, challengePort: Int) throws -> Pebble {
        let authority = try TestCertificateAuthority.make(in: directory + "/ca")
        let tls = try authority.issue(names: ["127.0.0.1", "localhost"], file: "pebble")
        let (port, management) = (freeLoopbackPort(), freeLoopbackPort())
        let configuration = """
            {"pebble": {"listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(management)",
            "certificate": "\(tls.certificate)", "privateKey": "\(tls.key)", "httpPort": \(challengePort),
            "tlsPort": \(freeLoopbackPort()), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
            """
        try configuration.write(toFile: directory + "/pebble.json", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            ["pebble", "-config", directory + "/pebble.json", "-dnsserver", dns],
            outputPath: directory + "/pebble.log",
            environment: ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"]
        )
        let pebble = Pebble(process: process, directory: directory, port: port, authority: authority)
        try pebble.fetchRoot(management: management)
        return pebble
    }

    /// Waits for the management interface and keeps pebble's root (`/roots/0`).
    private func fetchRoot(management: Int) throws {
        for _ in 0..<600 {
            guard process.isRunning else { break }
            let result = try ChildProcess.run([
                "curl", "-sf", "--cacert", authority.certificatePath, "-o", rootPath,
                "https://127.0.0.1:\(management)/roots/0",
            ])
            if result.status == 0 { return }
            usleep(50_000)
        }
        throw CLIRunner.Failure(description: "pebble did not start: \(log)")
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
