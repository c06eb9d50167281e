import CacheNodeTestSupport
import Foundation
import Testing

/// A new user's trial, in the real program in tmux: the README's answer-file trial reconfigured in the wizard, and
/// the hardware table under a long `--root`.
@Suite(.serialized)
struct WizardTrialEndToEndTests {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("wizard-trial-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// A trial installed from `Resources/answers/trial.yaml` (1 GB drive, `test` profile) goes through a re-run of the
    /// wizard as it is: Storage accepts its drive, Resources offers and keeps its profile, Review ends the dry run.
    @Test func aTrialFromTheAnswerFileReconfiguresInTheWizard() throws {
        let work = root.appendingPathComponent("work")
        let demo = root.appendingPathComponent("demo").path
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", demo])
            try? FileManager.default.removeItem(at: root)
        }
        let answerFile = work.appendingPathComponent("trial.yaml").path
        try InstallEndToEndTests.answers(listen: freeLoopbackPort(), admin: freeLoopbackPort())
            .write(toFile: answerFile, atomically: true, encoding: .utf8)
        let installed = try CLIRunner.run(
            ["setup", "--root", demo, "--host-root", WizardEndToEndTests.machine, "--answers", answerFile]
        )
        #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")

        let tmux = try TmuxSession()
        try tmux.run(
            "'\(CLIRunner.binary)' setup --root '\(demo)' --host-root '\(WizardEndToEndTests.machine)' --dry-run"
        )
        try tmux.waitFor("Welcome and hardware check")
        try tmux.waitFor("[x] Continue anyway despite the warnings")
        try tmux.send("Enter")
        try tmux.waitFor("fixed: a node keeps its name after the install")
        try tmux.send("Enter")
        try tmux.waitFor("Create a new switch or use an existing one?")
        try tmux.send("Enter", "Enter")
        try tmux.waitFor("How the node gets its address.")
        try tmux.send("Enter", "Enter")
        try tmux.waitFor("> [ ] Continue anyway: I have read the network warnings")
        try tmux.send("Space", "Enter")

        try tmux.waitFor("Where the state and the cache live")
        try tmux.send("Enter", "Enter", "Enter")
        // The installed 1 GB drive is judged by the trial's profile, not the branch profile's 50 GB.
        try tmux.waitFor("This machine: 16 cores")
        let resources = try tmux.capture()
        #expect(!resources.contains("below the minimum"), "\(resources)")
        #expect(resources.contains("(*) 1  test"), "the installed profile is not offered and chosen:\n\(resources)")
        try tmux.send("Enter", "Enter", "Enter")
        // The installed hub as it is: Enter down to the hub's list, then on.
        try tmux.waitFor("Do you already have a hub?")
        for _ in 0..<4 {
            if try tmux.capture().split(separator: "\n").contains(where: { $0.hasPrefix("> Hub") && $0.count <= 6 }) {
                break
            }
            try tmux.send("Enter")
            Thread.sleep(forTimeInterval: 0.5)
        }
        try tmux.send("Enter")
        try tmux.httpsOff()
        try tmux.waitFor("Every answer. Enter on a row")
        #expect(try tmux.capture().contains("test profile, 2 GB memory, 2 cores"))
        try tmux.finishReview()
        let status = try tmux.waitForExit()
        let pane = try tmux.capture()
        #expect(status == 0, "\(pane)")
    }

    /// At 100 columns, "Free disk at PATH" under a long `--root` stays one row: the path is shortened in the middle,
    /// the measurement and verdicts stay beside it.
    @Test func theHardwareTableKeepsALongRootPathOnOneRow() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let demo = root.appendingPathComponent("a-rather-long-directory-for-the-trial/demo").path
        let tmux = try TmuxSession(cols: 100, rows: 30)
        try tmux.run(
            "'\(CLIRunner.binary)' setup --root '\(demo)' --host-root '\(WizardEndToEndTests.machine)' --dry-run"
        )
        try tmux.waitFor("Continue anyway despite the warnings")
        let lines = try tmux.capture().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines.firstIndex { $0.hasPrefix("Free disk at ") }, "\(lines)")
        let row = lines[index]
        #expect(row.hasPrefix("Free disk at /tmp/") && row.contains("…/cachenode "), "\(row)")
        #expect(row.contains(" GB ") && row.contains(/(PASS|WARN|FAIL) *$/), "\(row)")
        #expect(lines[index + 1].hasPrefix("Disk type"), "the row continues on the next line: \(lines[index + 1])")
        try tmux.send("q")
    }
}
