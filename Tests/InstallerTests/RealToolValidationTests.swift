import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Testing

/// The rendered files checked by the tools that read them on a real machine: systemd, nft and netplan.
/// CI installs the tools (`.ci/run`); a machine without one skips its test.
struct RealToolValidationTests {
    static func tool(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `arguments`; exit status and output (stdout, then stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String) {
        let result = try ChildProcess.run(arguments)
        return (result.status, result.stdout + result.stderr)
    }

    /// The plan for an example, rendered with `binary` as the engine, written under a new root.
    static func install(_ example: String, netplan: Bool, binary: String) throws -> (InstallPlan, String) {
        let root = try InstallFixtures.temporaryRoot()
        let planner = InstallPlanner(
            templates: InstallFixtures.resources.templates,
            policy: InstallFixtures.resources.policy,
            binary: binary,
            hostName: "cache-host",
            version: "1.0.0",
            usesNetplan: netplan
        )
        let plan = try planner.plan(try InstallFixtures.answers(example), root: root)
        for file in plan.files {
            try FileManager.default.createDirectory(
                atPath: (file.path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            try file.content.write(toFile: file.path, atomically: true, encoding: .utf8)
        }
        return (plan, root)
    }

    @Test(.enabled(if: tool("/usr/bin/systemd-analyze")), arguments: TemplateRenderingTests.examples)
    func theUnitPassesSystemdAnalyzeVerify(_ example: String) throws {
        let binaryRoot = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: binaryRoot) }
        let binary = binaryRoot + "/cachenode"
        #expect(
            FileManager.default.createFile(
                atPath: binary,
                contents: Data("#!/bin/sh\n".utf8),
                attributes: [.posixPermissions: 0o755]
            )
        )
        let (plan, root) = try Self.install(example, netplan: false, binary: binary)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, output) = try Self.run(["/usr/bin/systemd-analyze", "verify", "--man=no", plan.layout.unit])
        #expect(status == 0, "\(output)")
        #expect(!output.contains(plan.layout.unit), "systemd-analyze complained:\n\(output)")
    }

    /// The unit's exposure as systemd rates it (0 safe to 10 unsafe): the engine runs unprivileged and confined.
    @Test(.enabled(if: tool("/usr/bin/systemd-analyze")), arguments: TemplateRenderingTests.examples)
    func theUnitIsRatedSafeBySystemdAnalyzeSecurity(_ example: String) throws {
        let (plan, root) = try Self.install(example, netplan: false, binary: "/usr/bin/cachenode")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, output) = try Self.run([
            "/usr/bin/systemd-analyze", "security", "--offline=true", "--no-pager", plan.layout.unit,
        ])
        #expect(status == 0, "\(output)")
        let line = try #require(
            output.split(separator: "\n").first { $0.contains("Overall exposure level") },
            "\(output)"
        )
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first, "\(line)")
        #expect(score <= 2.0, "\(line)\n\(output)")
        let unit = try String(contentsOfFile: plan.layout.unit, encoding: .utf8)
        #expect(unit.contains("\nUser=cachenode\n"))
        #expect(unit.contains("\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"))
        let drives = plan.configuration.storage.drives.map { plan.layout.onDisk($0.path) }
        #expect(
            unit.contains("\nReadWritePaths=" + ([plan.layout.stateDirectory] + drives).joined(separator: " ") + "\n")
        )
    }

    @Test(.enabled(if: tool("/usr/sbin/nft")), arguments: TemplateRenderingTests.examples)
    func theFirewallRulesPassNftCheck(_ example: String) throws {
        let (plan, root) = try Self.install(example, netplan: false, binary: "/usr/local/bin/cachenode")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, output) = try Self.run(["/usr/sbin/nft", "-c", "-f", plan.layout.firewall])
        #expect(status == 0, "\(output)")
    }

    @Test(.enabled(if: tool("/usr/sbin/netplan")), arguments: TemplateRenderingTests.examples)
    func theNetplanFileGeneratesNetworkdUnits(_ example: String) throws {
        let (plan, root) = try Self.install(example, netplan: true, binary: "/usr/local/bin/cachenode")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(chmod(plan.layout.netplanFile, 0o600) == 0)
        let (status, output) = try Self.run(["/usr/sbin/netplan", "generate", "--root-dir", root])
        #expect(status == 0, "\(output)")
        let generated = (try? FileManager.default.contentsOfDirectory(atPath: root + "/run/systemd/network")) ?? []
        let configuration = try InstallFixtures.answers(example)
        #expect(
            generated.contains("10-netplan-\(configuration.network.switch.name).netdev")
                || configuration.network.switch.mode == .existing
        )
        #expect(generated.contains("10-netplan-\(configuration.network.switch.name).network"), "\(generated)")
    }
}
