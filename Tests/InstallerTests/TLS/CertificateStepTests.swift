import CacheNodeCore
import Foundation
import Installer
import Testing

/// The apply step "HTTPS certificate": with `engine.https` and no certificate it makes a key and a request, which a
/// failed install takes back; a pending request for the same names is kept.
struct CertificateStepTests {
    static func answers() throws -> NodeConfiguration {
        var configuration = try InstallFixtures.answers("trial.yaml")
        configuration.engine.https = NodeConfiguration.HTTPS(
            listen: "127.0.0.1:8443",
            certificateFile: "/var/lib/cachenode/tls/certificate.pem",
            keyFile: "/var/lib/cachenode/tls/key.pem",
            names: ["cache.test", "127.0.0.1"]
        )
        return configuration
    }

    @Test func aFailedInstallRemovesTheRequestItMade() async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = InstallFixtures.snapshot(root)
        let plan = try InstallFixtures.planner().plan(try Self.answers(), root: root)
        #expect(plan.httpsNames == ["cache.test", "127.0.0.1"])
        var events: [Applier.Event] = []
        let options = Applier.Options(beforeStep: { step in if step == .network { throw InjectedFault() } })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/bin/false").apply(plan, options: options) { events.append($0) }
        }
        let request = root + "/var/lib/cachenode/tls/request.csr"
        #expect(
            events.contains(
                .finished(
                    .certificate,
                    "a key and the request \(request) for cache.test, 127.0.0.1; "
                        + "HTTPS starts once cachenode cert install CERT is run"
                )
            )
        )
        #expect(InstallFixtures.snapshot(root) == before, "the request or its folder is left")
        #expect(events.last == .rolledBack([]))
    }

    @Test func aPendingRequestForTheSameNamesIsKeptAndAFailureLeavesIt() async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = try Self.answers()
        let layout = InstallLayout(root: root, state: configuration.storage.state)
        let files = TLSFiles(try #require(configuration.engine.https), layout: layout)
        try CertificateRequester(files: files, owner: nil).make(names: ["cache.test", "127.0.0.1"])
        let before = InstallFixtures.snapshot(root)
        let plan = try InstallFixtures.planner().plan(configuration, root: root)
        var events: [Applier.Event] = []
        let options = Applier.Options(beforeStep: { step in if step == .network { throw InjectedFault() } })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/bin/false").apply(plan, options: options) { events.append($0) }
        }
        #expect(
            events.contains(
                .finished(
                    .certificate,
                    "the request \(files.request) for cache.test, 127.0.0.1 is pending; "
                        + "HTTPS starts once cachenode cert install CERT is run"
                )
            )
        )
        #expect(InstallFixtures.snapshot(root) == before)
    }

    @Test func aRequestForOtherNamesIsReplacedAndAFailurePutsItBack() async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = try Self.answers()
        let layout = InstallLayout(root: root, state: configuration.storage.state)
        let files = TLSFiles(try #require(configuration.engine.https), layout: layout)
        try CertificateRequester(files: files, owner: nil).make(names: ["old.test"])
        let before = InstallFixtures.snapshot(root)
        let plan = try InstallFixtures.planner().plan(configuration, root: root)
        var replaced: [String]?
        let options = Applier.Options(beforeStep: { step in
            if step == .network { throw InjectedFault() }
        })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/bin/false").apply(plan, options: options) { event in
                if case .finished(.certificate, _) = event {
                    replaced = CertificateRequester(files: files, owner: nil).pending()?.names
                }
            }
        }
        #expect(replaced == ["cache.test", "127.0.0.1"])
        #expect(InstallFixtures.snapshot(root) == before)
    }

    @Test func theFirewallAndPolicyFilesNameTheHTTPSPort() throws {
        let plan = try InstallFixtures.planner().plan(try Self.answers(), root: "/nonexistent-root")
        let firewall = try #require(plan.files.first { $0.path.hasSuffix("cachenode.nft") })
        #expect(firewall.content.contains("        tcp dport 8443 ct state new accept\n"))
        let policy = try #require(plan.files.first { $0.path.hasSuffix("group-policy.txt") })
        #expect(
            policy.content.contains(
                "the node serves the same DOCacheHost name, 127.0.0.1, over HTTPS\non port 8443, with a "
                    + "certificate for cache.test, 127.0.0.1."
            ),
            "\(policy.content)"
        )
        let intune = try #require(plan.files.first { $0.path.hasSuffix("intune.txt") })
        #expect(intune.content.contains("Trusted certificate: upload the CA certificate (.cer)"))
    }
}
