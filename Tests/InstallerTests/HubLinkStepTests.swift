import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The apply step "link to the hub": it comes after the engine is verified, writes the link the engine reloads, and
/// rolls back with the rest of the run (what it did at the hub is undone).
@Suite(.serialized)
struct HubLinkStepTests {
    /// The engine of this build tree: the step runs after a real engine started and answered.
    static let binary = InstallFixtures.repository.appendingPathComponent(".build/debug/cachenode").path

    static func plan(root: String) throws -> InstallPlan {
        var answers = try InstallFixtures.answers("trial.yaml")
        answers.engine.listen = "127.0.0.1:\(freeLoopbackPort())"
        answers.engine.admin = "127.0.0.1:\(freeLoopbackPort())"
        return try InstallFixtures.planner().plan(answers, root: root)
    }

    static func options(_ linker: FakeLinker) -> Applier.Options {
        Applier.Options(selfTestOrigin: "127.0.0.1:1", graceSeconds: 5, hubLink: linker)
    }

    @Test func theLinkIsWrittenAfterTheSelfTestAndTheEngineReloads() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tree first: \(Self.binary)")
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let linker = FakeLinker()
        var events: [Applier.Event] = []
        let report = try await Applier(binary: Self.binary).apply(
            try Self.plan(root: root),
            options: Self.options(linker)
        ) {
            events.append($0)
        }
        defer { report.enginePID.map { EngineProcess.stop(pid: $0, graceSeconds: 5) } }
        let steps = events.compactMap { event -> ApplyStep? in if case .started(let step) = event { step } else { nil }
        }
        #expect(steps.last == .hub && steps.dropLast().last == .selfTest)
        #expect(events.contains(.finished(.hub, "node Trial-1 registered in hub trial-hub; first report accepted")))
        #expect(linker.calls.all == ["prepare trial-hub", "first report", "finish"])
        let link = root + "/var/lib/cachenode/hub-link.json"
        #expect(
            FileManager.default.contents(atPath: link)
                == Data(#"{"hub":"trial-hub","node":"Trial-1","token":"t"}"#.utf8)
        )
        var info = stat()
        #expect(stat(link, &info) == 0 && info.st_mode & 0o777 == 0o600, "the link holds the node's token")
        // The running engine was told (SIGHUP) and logged that it read the link again; it did not restart.
        // The engine logs the reload once its signal handler has run: wait for the line (bounded against a hang).
        var log = ""
        for _ in 0..<2400 where !log.contains("reload: reading the hub link") {
            log = (try? String(contentsOfFile: root + "/var/lib/cachenode/logs/engine.log", encoding: .utf8)) ?? ""
            if !log.contains("reload: reading the hub link") { usleep(50_000) }
        }
        #expect(log.contains("reload: reading the hub link"), "\(log)")
        #expect(report.enginePID.map(EngineProcess.isAlive) == true)
    }

    @Test func aHubThatRefusesRollsTheWholeRunBack() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tree first: \(Self.binary)")
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = InstallFixtures.snapshot(root)
        let linker = FakeLinker(
            failure: .command(step: "link to the hub", problem: "hub trial-hub: the key is not valid")
        )
        var events: [Applier.Event] = []
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: Self.binary).apply(try Self.plan(root: root), options: Self.options(linker)) {
                events.append($0)
            }
        }
        #expect(events.contains(.failed(.hub, "link to the hub: hub trial-hub: the key is not valid")))
        #expect(events.last == .rolledBack([]))
        #expect(InstallFixtures.snapshot(root) == before, "the engine stopped and every file of the run is gone")
    }

    @Test func aLinkThatCannotBeWrittenUndoesWhatTheStepDidAtTheHub() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the tree first: \(Self.binary)")
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A directory where the link goes: writing it fails after the hub registered the node.
        try FileManager.default.createDirectory(
            atPath: root + "/var/lib/cachenode/hub-link.json/x",
            withIntermediateDirectories: true
        )
        let linker = FakeLinker()
        var events: [Applier.Event] = []
        await #expect(throws: Applier.Failure.self) {
            try await Applier(binary: Self.binary).apply(try Self.plan(root: root), options: Self.options(linker)) {
                events.append($0)
            }
        }
        #expect(
            linker.calls.all == ["prepare trial-hub", "undo"],
            "the node the run created at the hub is deleted again"
        )
        #expect(events.contains { if case .failed(.hub, _) = $0 { true } else { false } })
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/cachenode/cachenode.pid"))
    }
}

/// Records what the step asked of the hub.
final class FakeLinker: HubLinking {
    let calls = CallLog()
    let failure: InstallError?

    init(failure: InstallError? = nil) {
        self.failure = failure
    }

    func prepare(_ configuration: NodeConfiguration, layout: InstallLayout) throws(InstallError) -> HubLinkPlan {
        calls.append("prepare \(configuration.hub.name)")
        if let failure { throw failure }
        let calls = self.calls
        return HubLinkPlan(
            linkFile: Array(#"{"hub":"trial-hub","node":"Trial-1","token":"t"}"#.utf8),
            detail: "node Trial-1 registered in hub trial-hub",
            undo: {
                calls.append("undo")
                return []
            },
            finish: {
                calls.append("finish")
                return nil
            }
        )
    }

    func firstReport(_ plan: HubLinkPlan, layout: InstallLayout, since: Double) -> String {
        calls.append("first report")
        return "first report accepted"
    }
}

/// Calls in the order they came, from any thread.
final class CallLog: Sendable {
    private let value = Mutex<[String]>([])

    func append(_ call: String) { value.withLock { $0.append(call) } }
    var all: [String] { value.withLock { $0 } }
}
