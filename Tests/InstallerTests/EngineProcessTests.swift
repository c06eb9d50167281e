import CacheNodeCore
import Foundation
import Installer
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The engine a `--root` install runs in the background: detached from setup, recorded in its pid file.
@Suite(.serialized)
struct EngineProcessTests {
    @Test func theEngineRunsInASessionOfItsOwnAndIsNoChildOfSetup() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HubLinkStepTests.binary), "build the tree first")
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try HubLinkStepTests.plan(root: root)
        let report = try await Applier(binary: HubLinkStepTests.binary).apply(
            plan,
            options: Applier.Options(selfTestOrigin: "127.0.0.1:1", graceSeconds: 5)
        )
        let pid = try #require(report.enginePID)
        defer { EngineProcess.stop(pid: pid, graceSeconds: 5) }
        #expect(EngineProcess.running(pidFile: plan.layout.pidFile) == pid)
        // A session of its own: setup's terminal closing (SIGHUP to its session) does not reach it.
        #expect(getsid(pid) == pid)
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let parent = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")[1]
        #expect(pid_t(parent) != getpid(), "setup would have to reap it")
        // Nothing from setup's side: input from /dev/null, output to the engine's log.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/0") == "/dev/null")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1") == plan.layout.engineLog)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/2") == plan.layout.engineLog)
    }

    @Test func anEngineThatEndsDuringStartUpIsReportedWithItsLog() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HubLinkStepTests.binary), "build the tree first")
        let root = try InstallFixtures.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = root + "/logs/engine.log"
        let pid = try await EngineProcess.start(
            binary: HubLinkStepTests.binary,
            config: root + "/missing.yaml",
            log: log,
            pidFile: root + "/cachenode.pid"
        )
        #expect(pid > 0)
        do {
            let admin = try #require(ListenAddress("127.0.0.1:1"))
            try await EngineProcess.waitUntilReady(pid: pid, admin: admin, log: log)
            Issue.record("an engine without its configuration was taken as ready")
        } catch {
            #expect("\(error)".contains("it exited during start-up"), "\(error)")
            #expect("\(error)".contains("missing.yaml"), "the log's last lines say why: \(error)")
        }
    }
}
