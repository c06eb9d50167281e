import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `cachenode cert request` and `cert install` on a trial install, checked with the openssl command and a CA made by
/// it: a request the CA signs installs; a certificate for other names, an expired one, one without its chain and one
/// whose key is not at hand are refused and change nothing.
@Suite(.serialized)
struct CertCommandTests {
    @Test(arguments: [("ecdsa-p256", "ASN1 OID: prime256v1"), ("rsa-2048", "Public-Key: (2048 bit)")])
    func requestMakesAPrivateKeyAndACSRForTheNames(_ keyType: String, _ keyText: String) async throws {
        try await TLSTrial.with { trial in
            let made = try trial.cert(
                ["request", "--name", "cache.contoso.test", "--name", "127.0.0.1", "--key-type", keyType]
            )
            #expect(made.status == 0, "\(made.stderr)")
            #expect(made.stdout.hasPrefix("Certificate request for node Trial-1: \(trial.request)\n"), "\(made.stdout)")
            #expect(made.stdout.contains("Names: cache.contoso.test, 127.0.0.1 (CN cache.contoso.test)"))
            #expect(made.stdout.contains("run: cachenode cert install --root \(trial.root.path) CERT [--chain FILE]"))
            // The names the answers give (cachenode.test) are not in this request: the command says so.
            #expect(made.stdout.contains("warning: clients use cachenode.test"), "\(made.stdout)")
            #expect(try Self.mode(trial.requestKey) == 0o600)
            #expect(!FileManager.default.fileExists(atPath: trial.key), "the key in use is never written by request")

            let text = try Self.openssl(["req", "-in", trial.request, "-noout", "-text", "-verify"])
            #expect(text.contains("Subject: CN = cache.contoso.test"), "\(text)")
            #expect(text.contains("DNS:cache.contoso.test, IP Address:127.0.0.1"), "\(text)")
            #expect(text.contains(keyText), "\(text)")
            let requestKey = try Self.openssl(["req", "-in", trial.request, "-noout", "-pubkey"])
            #expect(try Self.openssl(["pkey", "-in", trial.requestKey, "-pubout"]) == requestKey)
        }
    }

    @Test func aSignedRequestInstallsAndTheFilesChange() async throws {
        try await TLSTrial.with { trial in
            // Setup made the request already (no certificate yet); the CA signs it.
            let authority = try TestCertificateAuthority.make(in: trial.work.appendingPathComponent("ca").path)
            let requestKey = try #require(FileManager.default.contents(atPath: trial.requestKey))
            let signed = try Self.sign(trial.request, with: authority, days: 30)
            let installed = try trial.cert(["install", signed, "--chain", authority.certificatePath])
            #expect(installed.status == 0, "\(installed.stderr)")
            #expect(
                installed.stdout.contains("Installed the HTTPS certificate of node Trial-1:"),
                "\(installed.stdout)"
            )
            #expect(installed.stdout.contains("  names:    cachenode.test, 127.0.0.1"), "\(installed.stdout)")
            #expect(installed.stdout.contains("root CN=CacheNode Test CA"), "\(installed.stdout)")
            #expect(installed.stdout.contains("The engine reloads (SIGHUP to the engine, pid "), "\(installed.stdout)")
            #expect(try Self.fingerprint(trial.certificate) == Self.fingerprint(signed))
            #expect(FileManager.default.contents(atPath: trial.key) == requestKey)
            #expect(try Self.mode(trial.key) == 0o600)
            #expect(!FileManager.default.fileExists(atPath: trial.requestKey))
            #expect(!FileManager.default.fileExists(atPath: trial.request))
            // The client policy names the CA clients must trust, and the one name for both schemes.
            let policy = try CLIRunner.run(["policy", "--root", trial.root.path])
            #expect(
                policy.stdout.contains(
                    "\nHTTPS: the same DOCacheHost name serves both schemes: Intune Win32 apps and Teams content come "
                        + "over HTTPS on port \(trial.httpsPort), the rest over HTTP. The certificate covers "
                        + "cachenode.test, 127.0.0.1.\nClients must trust the CA that signed the node's certificate, "
                        + "CN=CacheNode Test CA (or the root CA above it), as a trusted root: deploy it by Group Policy "
                        + "or Intune (the files below say where).\n"
                ),
                "\(policy.stdout)"
            )

            // A renewal with a key of the CA's making (as an ACME client gives it): both files change again.
            let renewed = try authority.issue(names: trial.names, validDays: 60, file: "renewed")
            let again = try trial.cert(
                ["install", renewed.certificate, "--key", renewed.key, "--chain", authority.certificatePath]
            )
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try Self.fingerprint(trial.certificate) == Self.fingerprint(renewed.certificate))
            #expect(
                FileManager.default.contents(atPath: trial.key) == FileManager.default.contents(atPath: renewed.key)
            )
        }
    }

    /// Each refusal: what is given, and what the error must say.
    enum Refusal: String, CaseIterable {
        case otherNames, expired, keyNotAtHand, wrongKey, noChain, notYetValid
    }

    @Test(arguments: Refusal.allCases)
    func aCertificateThatDoesNotFitIsRefusedAndNothingChanges(_ refusal: Refusal) async throws {
        try await TLSTrial.with { trial in
            let authority = try TestCertificateAuthority.make(in: trial.work.appendingPathComponent("ca").path)
            // A certificate in use already, so that a refusal has files to leave alone.
            let current = try authority.issue(names: trial.names, file: "current")
            let first = try trial.cert([
                "install", current.certificate, "--key", current.key, "--chain", authority.certificatePath,
            ])
            try #require(first.status == 0, "\(first.stderr)")
            _ = try trial.cert(["request"])
            let before = trial.tlsSnapshot()
            let chain = ["--chain", authority.certificatePath]
            let (arguments, message): ([String], String)
            switch refusal {
            case .otherNames:
                let other = try authority.issue(names: ["other.test"], file: "other")
                arguments = [other.certificate, "--key", other.key] + chain
                message =
                    "does not cover cachenode.test, 127.0.0.1, which clients use in DOCacheHost (it names other.test)"
            case .expired:
                let expired = try authority.issue(names: trial.names, expired: true, file: "expired")
                arguments = [expired.certificate, "--key", expired.key] + chain
                message = "expired on "
            case .keyNotAtHand:
                let stray = try authority.issue(names: trial.names, file: "stray")
                arguments = [stray.certificate] + chain
                message = "does not match \(trial.requestKey) nor \(trial.key)"
            case .wrongKey:
                let issued = try authority.issue(names: trial.names, file: "issued")
                let other = try authority.issue(names: trial.names, file: "other")
                arguments = [issued.certificate, "--key", other.key] + chain
                message = "\(issued.certificate) does not match \(other.key): install the certificate issued for"
            case .noChain:
                let unchained = try authority.issue(names: trial.names, file: "unchained")
                arguments = [unchained.certificate, "--key", unchained.key]
                message = "does not build a chain to a trusted root: its issuer (CN=CacheNode Test CA)"
            case .notYetValid:
                let future = try Self.sign(trial.request, with: authority, days: 30, startsInDays: 2)
                arguments = [future] + chain
                message = "is not valid before "
            }
            let refused = try trial.cert(["install"] + arguments)
            #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains(message), "\(refused.stderr)")
            #expect(refused.stdout.isEmpty)
            #expect(trial.tlsSnapshot() == before, "the TLS files changed")
        }
    }

    @Test func withoutHTTPSTheCommandsSayHowToTurnItOn() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cert-off-\(UUID().uuidString)")
        let node = try StoppedNode()
        defer {
            node.remove()
            try? FileManager.default.removeItem(at: work)
        }
        let result = try CLIRunner.run(["cert", "request", "--root", node.root.path])
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "HTTPS is off on this node (no engine.https in \(node.state.path)/cachenode.yaml): turn it on with "
                + "cachenode setup (the HTTPS step, or engine.https in the answer file), then run this again\n"
        )
    }

    // MARK: openssl

    static func openssl(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(["openssl"] + arguments)
        guard result.status == 0 else {
            throw CLIRunner.Failure(description: "openssl \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return result.stdout
    }

    /// The CA's signature on a request with its names (the request's extensions copied), valid from `startsInDays`
    /// (a day ago by default) for `days`, made with `openssl ca` as an administrator's CA would.
    static func sign(
        _ request: String,
        with authority: TestCertificateAuthority,
        days: Int,
        startsInDays: Int = -1
    ) throws -> String {
        let name = "signed-\(UUID().uuidString)"
        let configuration = authority.directory + "/\(name).cnf"
        try """
        [ca]
        default_ca = test
        [test]
        database = \(authority.directory)/index.txt
        serial = \(authority.directory)/serial
        new_certs_dir = \(authority.directory)
        default_md = sha256
        policy = anything
        unique_subject = no
        copy_extensions = copyall
        [anything]
        commonName = supplied

        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        let start = Date().addingTimeInterval(Double(startsInDays) * 86_400)
        let output = authority.directory + "/\(name).pem"
        _ = try openssl([
            "ca", "-batch", "-notext", "-config", configuration, "-cert", authority.certificatePath, "-keyfile",
            authority.keyPath, "-in", request, "-out", output, "-startdate", formatter.string(from: start),
            "-enddate", formatter.string(from: start.addingTimeInterval(Double(days) * 86_400)),
        ])
        return output
    }

    static func fingerprint(_ certificate: String) throws -> String {
        try openssl(["x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"])
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CLIRunner.Failure(description: "\(path): no such file") }
        return info.st_mode & 0o7777
    }
}
