import Foundation
import Testing

/// `cachenode setup --answers`: the non-interactive path through the same install flow as the wizard.
@Suite(.serialized)
struct SetupCommandTests {
    static let machine = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/server-bridge").path

    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("setup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    @Test func aDryRunShowsThePlanAndChangesNothing() throws {
        let result = try CLIRunner.run([
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", Self.machine, "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        #expect(result.stdout.contains("/var/lib/cachenode/cachenode.yaml"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
    }

    @Test func aBadFileExitsTwoWithEveryProblemAndItsLine() throws {
        let setup = try CLIRunner.run(["setup", "--answers", "Tests/CLITests/Fixtures/bad.yaml", "--root", root.path, "--dry-run"])
        let validate = try CLIRunner.run(["validate", "Tests/CLITests/Fixtures/bad.yaml"])
        #expect(setup.status == 2)
        #expect(setup.stdout == "")
        #expect(setup.stderr == validate.stderr)
        #expect(setup.stderr.hasPrefix("Tests/CLITests/Fixtures/bad.yaml:1: network: missing"))
        #expect(setup.stderr.contains("Tests/CLITests/Fixtures/bad.yaml:3: node.name: 'Seattle 1' contains a space"))
    }

    @Test func aMissingFileExitsTwo() throws {
        let result = try CLIRunner.run(["setup", "--answers", "no-such.yaml", "--root", root.path, "--dry-run"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no-such.yaml"))
    }

    @Test func writeAnswersSavesAFileThatReplays() throws {
        let written = root.appendingPathComponent("copy.yaml").path
        let first = try CLIRunner.run([
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", Self.machine,
            "--dry-run", "--write-answers", written,
        ])
        #expect(first.status == 0, "\(first.stderr)")
        let text = try String(contentsOfFile: written, encoding: .utf8)
        #expect(text.hasPrefix("# CacheNode answers, written by `cachenode setup`.\n"))
        #expect(text.contains("# Step 3: network switch"))
        let replay = try CLIRunner.run(["setup", "--answers", written, "--root", root.path, "--host-root", Self.machine, "--dry-run"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == first.stdout.replacingOccurrences(of: "Answers written to \(written)\n", with: ""))
    }

    @Test func aBlockingHostExitsThree() throws {
        let tooSmall = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/too-small").path
        let result = try CLIRunner.run([
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", tooSmall, "--dry-run",
        ])
        #expect(result.status == 3)
        #expect(result.stderr.hasPrefix("this machine cannot run the node as configured:"))
    }
}
