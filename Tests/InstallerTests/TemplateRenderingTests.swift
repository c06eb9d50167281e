import CacheNodeCore
import Foundation
import Installer
import Testing

/// Every rendered file compared with a golden copy; `RECORD_GOLDEN=1` writes the copies anew.
struct TemplateRenderingTests {
    static let examples = ["branch-static.yaml", "large-create-switch.yaml", "trial.yaml"]

    @Test(arguments: examples)
    func renderedFilesMatchTheGoldenCopies(_ example: String) throws {
        let configuration = try InstallFixtures.answers(example)
        let plan = try InstallFixtures.planner(netplan: example == "large-create-switch.yaml")
            .plan(configuration, root: "/nonexistent-root")
        let directory = InstallFixtures.golden.appendingPathComponent(
            example.replacingOccurrences(of: ".yaml", with: "")
        )
        var expectedNames = Set<String>()
        for file in plan.files {
            let name = plan.layout.logical(file.path).dropFirst().replacingOccurrences(of: "/", with: "__")
            expectedNames.insert(name)
            let golden = directory.appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                try Data(file.content.utf8).write(to: golden)
                continue
            }
            let expected = try String(contentsOf: golden, encoding: .utf8)
            #expect(
                file.content == expected,
                "\(name) differs from its golden copy:\n\(LineDiff.unified(old: expected, new: file.content, oldName: "golden", newName: "rendered"))"
            )
        }
        let present = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        #expect(present == expectedNames, "golden files without a rendered file, or the reverse")
    }

    @Test func theInstalledConfigurationIsWhatServeReadsBack() throws {
        let configuration = try InstallFixtures.answers("trial.yaml")
        let plan = try InstallFixtures.planner().plan(configuration, root: "/demo")
        let installed = try #require(plan.files.first { $0.path == "/demo/var/lib/cachenode/cachenode.yaml" })
        let loaded = try AnswerFile.load(installed.content, sizing: InstallFixtures.resources.sizing)
        #expect(loaded.storage.state == "/demo/var/lib/cachenode")
        #expect(loaded.storage.drives.map(\.path) == ["/demo/srv/cache"])
        #expect(loaded.mappingPaths(plan.layout.logical) == configuration)
    }

    /// With `engine.https` the firewall opens its port beside the plain one; the unit lets the engine bind it and
    /// `systemctl reload` reaches the engine (which reads its certificate again).
    @Test func theFirewallOpensTheHTTPSPortAndTheUnitAllowsIt() throws {
        var configuration = try InstallFixtures.answers("trial.yaml")
        let files = NodeConfiguration.HTTPS.defaultFiles(state: configuration.storage.state)
        configuration.engine.https = .init(
            listen: "0.0.0.0:8443",
            certificateFile: files.certificate,
            keyFile: files.key
        )
        let plan = try InstallFixtures.planner().plan(configuration, root: "/")
        let firewall = try #require(plan.files.first { $0.path.hasSuffix("cachenode.nft") }).content
        #expect(
            firewall.contains(
                "\n        tcp dport 8080 ct state new accept\n        tcp dport 8443 ct state new accept\n"
            )
        )
        #expect(firewall.contains("# Clients reach the cache on port 8080 and over HTTPS on port 8443;"))
        let unit = try #require(plan.files.first { $0.path.hasSuffix("cachenode.service") }).content
        #expect(unit.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"))
        #expect(unit.contains("\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"))

        configuration.engine.https = nil
        let plain = try InstallFixtures.planner().plan(configuration, root: "/")
        let plainFirewall = try #require(plain.files.first { $0.path.hasSuffix("cachenode.nft") }).content
        #expect(!plainFirewall.contains("8443") && !plainFirewall.contains("HTTPS"))
    }

    @Test func theDeploymentManifestIsJSON() throws {
        let configuration = try InstallFixtures.answers("large-create-switch.yaml")
        let plan = try InstallFixtures.planner().plan(configuration, root: "/")
        let file = try #require(plan.files.first { $0.path.hasSuffix("deployment.json") })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(file.content.utf8)) as? [String: Any])
        #expect(json["node"] as? String == "HQ-Cache-01")
        #expect(json["hub"] as? String == "contoso-hq")
        #expect((json["drives"] as? [[String: Any]])?.count == 2)
    }

    @Test func theProxyPasswordReachesTheEngineAsACredentialAndIsNeverShown() throws {
        var configuration = try InstallFixtures.answers("large-create-switch.yaml")
        configuration.engine.upstreamProxy = "http://cachenode@proxy.contoso.local:3128"
        configuration.engine.upstreamProxyPasswordFile = "/var/lib/cachenode/upstream-proxy.password"
        let plan = try InstallFixtures.planner().plan(
            configuration,
            root: "/nonexistent-root",
            secrets: ["/var/lib/cachenode/upstream-proxy.password": "s3cret-canary\n"]
        )
        let unit = try #require(plan.files.first { $0.path.hasSuffix("/etc/systemd/system/cachenode.service") }).content
        #expect(
            unit.contains(
                "\nLoadCredential=upstream-proxy-password:/nonexistent-root/var/lib/cachenode/upstream-proxy.password\n"
            )
        )
        let secret = try #require(plan.files.first { $0.path.hasSuffix("upstream-proxy.password") })
        #expect(secret.mode == 0o600)
        #expect(secret.isSecret)
        #expect(plan.files.filter { !$0.isSecret }.allSatisfy { !$0.content.contains("s3cret-canary") })
        #expect(!plan.describe().contains("s3cret-canary"))
        #expect(plan.describe().contains("/var/lib/cachenode/upstream-proxy.password: a secret, not shown"))
    }

    @Test func systemdLimitsFollowTheChosenResources() throws {
        var configuration = try InstallFixtures.answers("branch-static.yaml")
        configuration.resources = .init(memoryGB: 6, cores: 3)
        let plan = try InstallFixtures.planner().plan(configuration, root: "/")
        let unit = try #require(plan.files.first { $0.path == "/etc/systemd/system/cachenode.service" }).content
        #expect(unit.contains("MemoryMax=6G\n"))
        #expect(unit.contains("CPUQuota=300%\n"))
        #expect(unit.contains("AllowedCPUs=0-2\n"))
        #expect(unit.contains("ExecStart=/usr/local/bin/cachenode serve --config /var/lib/cachenode/cachenode.yaml\n"))
    }

    /// An isolated segment has no router: a static address without a gateway gets no default route, in networkd's
    /// file and in netplan's (an empty `Gateway=` or `via:` is not "no gateway").
    @Test(arguments: [false, true])
    func aStaticAddressWithoutAGatewayGetsNoDefaultRoute(_ netplan: Bool) throws {
        var configuration = try InstallFixtures.answers("large-create-switch.yaml")
        configuration.network.address = .init(mode: .static, ip: "198.51.100.50/24")
        let plan = try InstallFixtures.planner(netplan: netplan).plan(configuration, root: "/")
        let network = try #require(
            plan.files.first { $0.path.hasSuffix("60-cachenode-br0.network") || $0.path.hasSuffix("60-cachenode.yaml") }
        ).content
        if netplan {
            #expect(network.contains("      addresses: [198.51.100.50/24]\n      nameservers:"), "\(network)")
            #expect(!network.contains("routes:") && !network.contains("via:"), "\(network)")
        } else {
            #expect(network.contains("Address=198.51.100.50/24\n"), "\(network)")
            #expect(!network.contains("Gateway="), "\(network)")
        }
    }

    @Test func aRealInstallPlansItsCommandsAndARootInstallNone() throws {
        let configuration = try InstallFixtures.answers("large-create-switch.yaml")
        let real = try InstallFixtures.planner().plan(configuration, root: "/nonexistent-but-real")
        #expect(real.commands.isEmpty, "any root but / is a trial")
        let plan = try InstallFixtures.planner().plan(configuration, root: "/")
        #expect(
            plan.commands.map { $0.arguments.joined(separator: " ") }.contains("nft -f /etc/nftables.d/cachenode.nft")
        )
        #expect(
            plan.commands.map { $0.arguments.joined(separator: " ") }.contains("systemctl restart cachenode.service")
        )
    }

    @Test func theNodeNameCannotChange() throws {
        let installed = try InstallFixtures.answers("branch-static.yaml")
        var renamed = installed
        renamed.node.name = "Seattle-2"
        #expect(throws: InstallError.nodeNameChanged(installed: "Seattle-1", requested: "Seattle-2")) {
            try InstallFixtures.planner().plan(renamed, root: "/tmp/x", previous: installed)
        }
    }
}
