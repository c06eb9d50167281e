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
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", Self.machine,
            "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        #expect(result.stdout.contains("/var/lib/cachenode/cachenode.yaml"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
    }

    @Test func aBadFileExitsTwoWithEveryProblemAndItsLine() throws {
        let setup = try CLIRunner.run([
            "setup", "--answers", "Tests/CLITests/Fixtures/bad.yaml", "--root", root.path, "--dry-run",
        ])
        let validate = try CLIRunner.run(["validate", "Tests/CLITests/Fixtures/bad.yaml"])
        #expect(setup.status == 2)
        #expect(setup.stdout == "")
        #expect(setup.stderr == validate.stderr)
        #expect(setup.stderr.hasPrefix("Tests/CLITests/Fixtures/bad.yaml:1: network: missing"))
        #expect(setup.stderr.contains("Tests/CLITests/Fixtures/bad.yaml:3: node.name: 'Seattle 1' contains a space"))
    }

    @Test func aDriveThatHoldsSomeoneElsesFilesIsRefusedAndNothingChanges() throws {
        let drive = root.appendingPathComponent("srv/cache")
        try FileManager.default.createDirectory(at: drive, withIntermediateDirectories: true)
        #expect(
            FileManager.default.createFile(
                atPath: drive.appendingPathComponent("thesis.pdf").path,
                contents: Data("x".utf8)
            )
        )
        try FileManager.default.createDirectory(
            at: drive.appendingPathComponent("lost+found"),
            withIntermediateDirectories: true
        )
        let result = try CLIRunner.run([
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", Self.machine,
            "--yes",
        ])
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(
            result.stderr == """
                the service cannot take over these paths:
                  - storage.drives[0].path: /srv/cache is not empty and holds no CacheNode cache (thesis.pdf) \
                (an empty directory, a new file system, or an earlier CacheNode cache)

                """
        )
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["srv"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: drive.path)) == ["thesis.pdf", "lost+found"])
    }

    @Test func systemAndHomeDirectoriesAreNeverHandedToTheService() throws {
        let answers = root.appendingPathComponent("answers.yaml").path
        let trial = try String(
            contentsOfFile: CLIRunner.repository.appendingPathComponent("Resources/answers/trial.yaml").path,
            encoding: .utf8
        )
        let text = trial.replacingOccurrences(of: "state: /var/lib/cachenode", with: "state: /etc")
            .replacingOccurrences(of: "- path: /srv/cache", with: "- path: /home/ada/cache")
        #expect(FileManager.default.createFile(atPath: answers, contents: Data(text.utf8)))
        let result = try CLIRunner.run([
            "setup", "--answers", answers, "--root", root.path, "--host-root", Self.machine, "--dry-run",
        ])
        #expect(result.status == 2)
        #expect(
            result.stderr.contains("storage.state: /etc is a system directory; the cache needs a directory of its own")
        )
        #expect(result.stderr.contains("storage.drives[0].path: /home/ada/cache is inside a home directory"))
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
        let replay = try CLIRunner.run([
            "setup", "--answers", written, "--root", root.path, "--host-root", Self.machine, "--dry-run",
        ])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout == first.stdout.replacingOccurrences(of: "Answers written to \(written)\n", with: ""))
    }

    @Test func aBlockingHostExitsThree() throws {
        let tooSmall = CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/too-small").path
        let result = try CLIRunner.run([
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", tooSmall,
            "--dry-run",
        ])
        #expect(result.status == 3)
        #expect(result.stderr.hasPrefix("this machine cannot run the node as configured:"))
    }

    /// `--listen` and `--admin-listen` are read as engine.listen and engine.admin of an answer file are: a bad value
    /// stops setup before anything, exit 2, the flag named.
    @Test(arguments: [
        (["--listen", "0.0.0.0"], "--listen: '0.0.0.0' is not address:port (as 0.0.0.0:80 or [::]:80)"),
        (["--listen", "localhost:8080"], "--listen: 'localhost:8080' is not address:port (as 0.0.0.0:80 or [::]:80)"),
        (
            ["--admin-listen", "127.0.0.1:70000"],
            "--admin-listen: '127.0.0.1:70000' is not address:port (as 127.0.0.1:5000)"
        ),
        (
            ["--listen", "0.0.0.0:7000", "--admin-listen", "127.0.0.1:7000"],
            "--admin-listen: 127.0.0.1:7000 clashes with --listen 0.0.0.0:7000 (a different port, as 127.0.0.1:5000)"
        ),
    ])
    func aBadListenFlagIsRefusedWithTheFlagNamed(_ flags: [String], _ expected: String) throws {
        let result = try CLIRunner.run(["setup", "--root", root.path, "--host-root", Self.machine] + flags, stdin: "")
        #expect(result.status == 2, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
    }

    /// With --answers the answer file alone sets the engine's addresses: a flag that differs is refused, the same
    /// value is accepted.
    @Test func theListenFlagsMustAgreeWithTheAnswerFile() throws {
        let setup = [
            "setup", "--answers", "Resources/answers/trial.yaml", "--root", root.path, "--host-root", Self.machine,
        ]
        let differs = try CLIRunner.run(setup + ["--dry-run", "--listen", "127.0.0.1:9090"])
        #expect(differs.status == 2, "\(differs.stdout)\(differs.stderr)")
        #expect(
            differs.stderr
                == "--listen 127.0.0.1:9090 differs from engine.listen 127.0.0.1:8080 of Resources/answers/trial.yaml: "
                + "with --answers the answer file sets the engine's addresses; change engine.listen there\n"
        )
        let admin = try CLIRunner.run(setup + ["--dry-run", "--admin-listen", "127.0.0.1:5001"])
        #expect(admin.status == 2)
        #expect(admin.stderr.hasPrefix("--admin-listen 127.0.0.1:5001 differs from engine.admin 127.0.0.1:5000 of "))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
        let same = try CLIRunner.run(
            setup + ["--dry-run", "--listen", "127.0.0.1:8080", "--admin-listen", "127.0.0.1:5000"]
        )
        #expect(same.status == 0, "\(same.stderr)")
    }
}
