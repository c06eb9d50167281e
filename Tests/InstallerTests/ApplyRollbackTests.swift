import CacheNodeCore
import Foundation
import Installer
import Testing

struct InjectedFault: Error {}

/// A failure at any step leaves the root as it was.
struct ApplyRollbackTests {
    static let stepsBeforeTheEngine: [ApplyStep] = [.render, .write, .network, .firewall, .engine]

    @Test(arguments: stepsBeforeTheEngine)
    func aFirstInstallThatFailsLeavesTheRootByteIdentical(_ failing: ApplyStep) async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Something of the operator's that must survive untouched.
        try FileManager.default.createDirectory(atPath: root + "/etc/nftables.d", withIntermediateDirectories: true)
        try Data("table inet operator {}\n".utf8).write(
            to: URL(fileURLWithPath: root + "/etc/nftables.d/cachenode.nft")
        )
        let before = InstallFixtures.snapshot(root)

        let plan = try InstallFixtures.planner().plan(try InstallFixtures.answers("trial.yaml"), root: root)
        var events: [Applier.Event] = []
        let options = Applier.Options(beforeStep: { step in if step == failing { throw InjectedFault() } })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/bin/false").apply(plan, options: options) { events.append($0) }
        }
        #expect(InstallFixtures.snapshot(root) == before)
        #expect(events.contains(.failed(failing, "fault injected at \(failing.rawValue)")))
        #expect(events.last == .rolledBack([]))
    }

    @Test func aReconfigureThatFailsRestoresTheInstalledFiles() async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let installed = try InstallFixtures.answers("trial.yaml")
        let first = try InstallFixtures.planner().plan(installed, root: root)
        // Write the first install's files as an earlier run would have (no engine: fail at the engine step).
        for file in first.files {
            try FileManager.default.createDirectory(
                atPath: (file.path as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            try Data(file.content.utf8).write(to: URL(fileURLWithPath: file.path))
        }
        let before = InstallFixtures.snapshot(root)
        var changed = installed
        changed.resources.memoryGB = 3
        changed.network.address = .init(
            mode: .static,
            ip: "192.168.7.20/24",
            gateway: "192.168.7.1",
            dns: ["192.168.7.1"]
        )
        let plan = try InstallFixtures.planner().plan(changed, root: root, previous: installed)
        #expect(
            plan.settingChanges.map(\.key) == [
                "network.address.mode", "network.address.ip", "network.address.gateway", "network.address.dns",
                "resources.memory_gb",
            ]
        )
        #expect(!plan.changedFiles.isEmpty)
        let options = Applier.Options(beforeStep: { step in if step == .engine { throw InjectedFault() } })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/bin/false").apply(plan, options: options)
        }
        #expect(InstallFixtures.snapshot(root) == before)
    }

    @Test func anEngineThatCannotStartIsRolledBackWithItsReason() async throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = InstallFixtures.snapshot(root)
        let plan = try InstallFixtures.planner().plan(try InstallFixtures.answers("trial.yaml"), root: root)
        do {
            _ = try await Applier(binary: "/bin/false").apply(plan)
            Issue.record("an engine that exits at once was accepted")
        } catch {
            #expect(error.step == .engine)
            // /bin/false is no engine: it ends before it could record its pid, and its log says nothing.
            #expect(
                error.description.hasPrefix("start the engine failed: the cache engine: it did not record its pid in "),
                "\(error)"
            )
        }
        #expect(InstallFixtures.snapshot(root) == before)
    }

    @Test func aRealInstallRunsItsCommandsAndUndoesThemOnFailure() async throws {
        // Only the command list is exercised: the runner records, nothing reaches the machine.
        let runner = RecordingRunner()
        runner.failing = "nft -f"
        let plan = try InstallFixtures.planner().plan(try InstallFixtures.answers("branch-static.yaml"), root: "/")
        let options = Applier.Options(beforeStep: { step in if step == .write { throw InjectedFault() } })
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: "/usr/local/bin/cachenode", runner: runner).apply(plan, options: options)
        }
        #expect(runner.commands.isEmpty, "the write step failed first: no command ran")
    }

    @Test func dryRunShowsEveryFileWithItsDiffAndChangesNothing() throws {
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try InstallFixtures.planner().plan(try InstallFixtures.answers("trial.yaml"), root: root)
        let text = plan.describe()
        #expect(
            text.contains("create    /var/lib/cachenode/cachenode.yaml  (node configuration (read by cachenode serve))")
        )
        #expect(text.contains("+++ b/etc/systemd/system/cachenode.service\n"))
        #expect(text.contains("+MemoryMax=2G\n"))
        #expect(text.contains("(none: --root changes no network, firewall or service manager)"))
        #expect(InstallFixtures.snapshot(root).isEmpty)
    }
}
