import CacheNodeTestSupport
import Foundation
import Testing

/// `cachenode setup --answers` with `engine.https`: without files it makes the request and installs, with files it
/// checks them as `cert install` does (exit 2 and nothing applied when they do not fit), and a re-run that turns
/// HTTPS off leaves the files.
@Suite(.serialized)
struct SetupHTTPSTests {
    @Test func withoutACertificateSetupMakesTheRequestAndHTTPSOffKeepsIt() async throws {
        try await TLSTrial.with(install: false) { trial in
            let installed = try trial.setup()
            #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
            #expect(
                installed.stdout.contains(
                    "[ ok ] HTTPS certificate: a key and the request \(trial.request) for cachenode.test, 127.0.0.1; "
                        + "HTTPS starts once cachenode cert install CERT is run"
                ),
                "\(installed.stdout)"
            )
            #expect(
                installed.stdout.hasSuffix(
                    """
                    HTTPS: the certificate request is \(trial.request) (names cachenode.test, 127.0.0.1).
                      Have your CA sign it; HTTPS starts once you run: cachenode cert install --root \(trial.root.path) CERT [--chain FILE]

                    """
                ),
                "\(installed.stdout)"
            )
            #expect(try CertCommandTests.mode(trial.requestKey) == 0o600)
            let text = try CertCommandTests.openssl(["req", "-in", trial.request, "-noout", "-text"])
            #expect(text.contains("DNS:cachenode.test, IP Address:127.0.0.1"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: trial.certificate))
            #expect(!FileManager.default.fileExists(atPath: trial.key))
            let request = trial.tlsSnapshot()
            let policy = try CLIRunner.run(["policy", "--root", trial.root.path])
            #expect(policy.stdout.contains("Clients must trust the CA that will sign the node's certificate (none is"))
            let groupPolicy = try String(contentsOfFile: trial.state + "/policy/group-policy.txt", encoding: .utf8)
            #expect(
                groupPolicy.contains("over HTTPS\non port \(trial.httpsPort), with a certificate for cachenode.test")
            )

            // The same answers again: the pending request (perhaps with the CA already) stays as it is.
            let again = try trial.setup()
            #expect(again.status == 0, "\(again.stderr)")
            #expect(trial.tlsSnapshot() == request)

            // HTTPS off: the install goes on without it, and the files stay where they are.
            try trial.answers(https: false).write(toFile: trial.answersFile, atomically: true, encoding: .utf8)
            let off = try trial.setup()
            #expect(off.status == 0, "\(off.stderr)")
            #expect(
                off.stdout.contains(
                    "HTTPS is off. Its files stay where they are: \(trial.request), \(trial.requestKey)\n"
                ),
                "\(off.stdout)"
            )
            #expect(trial.tlsSnapshot() == request)
        }
    }

    @Test func certificateFilesThatFitAreInstalledWithTheNode() async throws {
        try await TLSTrial.with(install: false) { trial in
            let authority = try TestCertificateAuthority.make(in: trial.work.appendingPathComponent("ca").path)
            let issued = try authority.issue(names: trial.names, file: "node")
            try trial.place(issued, chain: authority.certificatePath)
            try trial.answers(extra: "    chain_file: /var/lib/cachenode/tls/chain.pem\n").write(
                toFile: trial.answersFile,
                atomically: true,
                encoding: .utf8
            )
            let installed = try trial.setup()
            #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
            #expect(
                installed.stdout.contains(
                    "[ ok ] HTTPS certificate: /var/lib/cachenode/tls/certificate.pem with its key "
                        + "/var/lib/cachenode/tls/key.pem, checked before applying"
                ),
                "\(installed.stdout)"
            )
            #expect(!FileManager.default.fileExists(atPath: trial.request))
        }
    }

    /// The CA file for HTTPS origins must be there (below --root on a trial) before anything is applied: without it
    /// the engine would not start.
    @Test func aMissingOriginCAFileStopsSetupBeforeAnythingIsApplied() async throws {
        try await TLSTrial.with(install: false) { trial in
            let extra = "  origin_ca_file: /etc/cachenode/origin-ca.pem\n"
            try trial.answers(extra: extra).write(toFile: trial.answersFile, atomically: true, encoding: .utf8)
            let refused = try trial.setup()
            #expect(refused.status == 2, "\(refused.stdout)\n\(refused.stderr)")
            let path = trial.root.path + "/etc/cachenode/origin-ca.pem"
            #expect(
                refused.stderr.hasPrefix("engine.origin_ca_file: \(path) does not exist (paths are under --root)"),
                "\(refused.stderr)"
            )
            #expect(!FileManager.default.fileExists(atPath: trial.state + "/cachenode.yaml"), "setup applied")

            let authority = try TestCertificateAuthority.make(in: trial.work.appendingPathComponent("ca").path)
            try FileManager.default.createDirectory(
                atPath: trial.root.path + "/etc/cachenode",
                withIntermediateDirectories: true
            )
            try FileManager.default.copyItem(atPath: authority.certificatePath, toPath: path)
            let installed = try trial.setup()
            #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
        }
    }

    /// Files that do not fit: what is wrong, and the answer-file key the error is at.
    enum Misfit: String, CaseIterable {
        case otherNames, expired, foreignKey, missingKey, noChain
    }

    @Test(arguments: Misfit.allCases)
    func certificateFilesThatDoNotFitStopSetupBeforeAnythingIsApplied(_ misfit: Misfit) async throws {
        try await TLSTrial.with(install: false) { trial in
            let authority = try TestCertificateAuthority.make(in: trial.work.appendingPathComponent("ca").path)
            let good = try authority.issue(names: trial.names, file: "good")
            var chain: String? = authority.certificatePath
            let message: String
            switch misfit {
            case .otherNames:
                try trial.place(try authority.issue(names: ["other.test"], file: "other"), chain: chain)
                message = "engine.https.certificate_file: \(trial.certificate) does not cover cachenode.test, 127.0.0.1"
            case .expired:
                try trial.place(try authority.issue(names: trial.names, expired: true, file: "old"), chain: chain)
                message = "engine.https.certificate_file: \(trial.certificate) expired on "
            case .foreignKey:
                let stray = try authority.issue(names: trial.names, file: "stray")
                try trial.place((good.certificate, stray.key), chain: chain)
                message = "engine.https.key_file: \(trial.certificate) does not match \(trial.key)"
            case .missingKey:
                try trial.place(good, chain: chain)
                try FileManager.default.removeItem(atPath: trial.key)
                message =
                    "engine.https.key_file: \(trial.key) does not exist, but the certificate \(trial.certificate) does"
            case .noChain:
                chain = nil
                try trial.place(good, chain: nil)
                message = "engine.https.certificate_file: \(trial.certificate) does not build a chain to a trusted root"
            }
            if chain != nil {
                try trial.answers(extra: "    chain_file: /var/lib/cachenode/tls/chain.pem\n").write(
                    toFile: trial.answersFile,
                    atomically: true,
                    encoding: .utf8
                )
            }
            let before = trial.tlsSnapshot()
            let refused = try trial.setup()
            #expect(refused.status == 2, "\(refused.stdout)\n\(refused.stderr)")
            #expect(refused.stderr.hasPrefix(message), "\(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: trial.state + "/cachenode.yaml"), "setup applied")
            #expect(trial.enginePid == nil)
            #expect(trial.tlsSnapshot() == before)
        }
    }
}

extension TLSTrial {
    /// Puts a certificate and key (and a chain) where the trial's answers name them, as an administrator would.
    func place(_ files: (certificate: String, key: String), chain: String?) throws {
        try FileManager.default.createDirectory(atPath: state + "/tls", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: files.certificate, toPath: certificate)
        try FileManager.default.copyItem(atPath: files.key, toPath: key)
        if let chain { try FileManager.default.copyItem(atPath: chain, toPath: state + "/tls/chain.pem") }
    }
}
