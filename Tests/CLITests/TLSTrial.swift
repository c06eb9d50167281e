import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A trial install with `engine.https` under a temporary root, made by `cachenode setup --answers`, with its engine
/// running in the background; `with` removes it (uninstall, then the folder) however the test ends.
struct TLSTrial {
    let work: URL
    let root: URL
    let listen: Int
    let admin: Int
    let httpsPort: Int
    let names: [String]

    var state: String { root.path + "/var/lib/cachenode" }
    var certificate: String { state + "/tls/certificate.pem" }
    var key: String { state + "/tls/key.pem" }
    var request: String { state + "/tls/request.csr" }
    var requestKey: String { state + "/tls/request.key" }
    var answersFile: String { work.appendingPathComponent("answers.yaml").path }

    /// Runs `body` on a new trial; with `install: false` only the answers are written (setup is the test's).
    static func with<T>(
        names: [String] = ["cachenode.test", "127.0.0.1"],
        install: Bool = true,
        _ body: (TLSTrial) async throws -> T
    ) async throws -> T {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tls-trial-\(UUID().uuidString)")
        let trial = TLSTrial(
            work: work,
            root: work.appendingPathComponent("root"),
            listen: freeLoopbackPort(),
            admin: freeLoopbackPort(),
            httpsPort: freeLoopbackPort(),
            names: names
        )
        try FileManager.default.createDirectory(at: trial.root, withIntermediateDirectories: true)
        defer { trial.remove() }
        try trial.answers().write(toFile: trial.answersFile, atomically: true, encoding: .utf8)
        if install {
            let installed = try trial.setup()
            try #require(installed.status == 0, "setup failed: \(installed.stdout)\n\(installed.stderr)")
        }
        return try await body(trial)
    }

    /// The trial answers on this trial's ports, with HTTPS (or without, for a re-run that turns it off).
    func answers(https: Bool = true, extra: String = "") throws -> String {
        var text = try InstallEndToEndTests.answers(listen: listen, admin: admin)
        guard https else { return text }
        text += """
              https:
                listen: 127.0.0.1:\(httpsPort)
                certificate_file: /var/lib/cachenode/tls/certificate.pem
                key_file: /var/lib/cachenode/tls/key.pem
                names: [\(names.joined(separator: ", "))]

            """
        return text + extra
    }

    /// `cachenode setup --answers` on this trial's answers; the self-test's origin is a closed loopback port, so the
    /// trial installs with a warning and never reaches out.
    func setup(_ arguments: [String] = []) throws -> CLIRunner.Result {
        try CLIRunner.run(
            ["setup", "--answers", answersFile, "--root", root.path, "--self-test-origin", "127.0.0.1:9", "--yes"]
                + arguments
        )
    }

    /// `cachenode cert ARGUMENTS --root ROOT`.
    func cert(_ arguments: [String]) throws -> CLIRunner.Result {
        try CLIRunner.run(["cert"] + arguments + ["--root", root.path])
    }

    /// Every file below the root's TLS folder with its bytes and mode, to show that nothing changed.
    func tlsSnapshot() -> [String: String] {
        let directory = state + "/tls"
        var files: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + name
            var info = stat()
            _ = lstat(path, &info)
            let bytes = FileManager.default.contents(atPath: path) ?? Data()
            files[name] = String(info.st_mode & 0o7777, radix: 8) + " " + bytes.base64EncodedString()
        }
        return files
    }

    /// The engine's pid, from its pid file.
    var enginePid: pid_t? { InstallEndToEndTests.pid(in: root) }

    private func remove() {
        _ = try? CLIRunner.run(["uninstall", "--root", root.path])
        if let pid = enginePid, InstallEndToEndTests.alive(pid) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: work)
    }
}
