import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The upstream proxy's password is kept in one file of its own (0600) and nowhere else: not in the installed
/// configuration or answers, not in logs, not in the diagnostics bundle, not on screen; the engine still uses it.
@Suite(.serialized)
struct ProxySecretTests {
    enum Source: CaseIterable {
        /// `CACHENODE_PROXY_PASSWORD` at setup time, the URL naming the user only.
        case environment
        /// `http://user:password@host:port` in the operator's answer file.
        case answerFileURL
    }

    @Test(arguments: Source.allCases)
    func aCanaryPasswordIsOnlyInItsFile(source: Source) async throws {
        let canary = "canary-\(UUID().uuidString.prefix(8))"
        let origin = try await TestOrigin.start()
        defer { Task { await origin.stop() } }
        let gif = Array("GIF89a".utf8) + [UInt8](repeating: 3, count: 2048)
        origin.add("/mscomtest/wuidt.gif", object: .init(bytes: gif, etag: "\"wuidt\"", contentType: "image/gif"))
        origin.requireProxyAuthorization("Basic " + Data("squid-user:\(canary)".utf8).base64EncodedString())

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-secret-\(UUID().uuidString)")
        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: work)
        }
        let userinfo = source == .environment ? "squid-user" : "squid-user:\(canary)"
        let answers = try InstallEndToEndTests.answers(listen: freeLoopbackPort(), admin: freeLoopbackPort())
            .replacingOccurrences(
                of: "upstream_proxy: null",
                with: "upstream_proxy: http://\(userinfo)@\(origin.authority)"
            )
        let answerFile = work.appendingPathComponent("answers.yaml").path
        try answers.write(toFile: answerFile, atomically: true, encoding: .utf8)

        let installed = try CLIRunner.run(
            ["setup", "--answers", answerFile, "--root", root.path, "--self-test-origin", origin.authority],
            environment: source == .environment ? ["CACHENODE_PROXY_PASSWORD": canary] : [:]
        )
        #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
        #expect(installed.stdout.contains("[ ok ] self-test: passed"), "\(installed.stdout)")
        #expect(
            origin.absoluteTargets.contains("http://\(origin.authority)/mscomtest/wuidt.gif"),
            "the engine did not use the proxy"
        )

        let passwordFile = root.appendingPathComponent("var/lib/cachenode/upstream-proxy.password").path
        #expect(try String(contentsOfFile: passwordFile, encoding: .utf8) == canary + "\n")
        let mode = try #require(
            try FileManager.default.attributesOfItem(atPath: passwordFile)[.posixPermissions] as? Int
        )
        #expect(mode == 0o600)
        let configuration = try String(
            contentsOfFile: root.appendingPathComponent("var/lib/cachenode/cachenode.yaml").path,
            encoding: .utf8
        )
        #expect(configuration.contains("upstream_proxy: \"http://squid-user@\(origin.authority)\""))
        #expect(configuration.contains("upstream_proxy_password_file: \(passwordFile)"))

        // Everything a person or a support engineer sees.
        let dryRun = try CLIRunner.run(
            [
                "setup", "--answers", answerFile, "--root", root.path, "--dry-run", "--self-test-origin",
                origin.authority,
            ],
            environment: source == .environment ? ["CACHENODE_PROXY_PASSWORD": canary] : [:]
        )
        let status = try CLIRunner.run(["status", "--root", root.path])
        let policy = try CLIRunner.run(["policy", "--root", root.path])
        let bundleDirectory = work.appendingPathComponent("bundle")
        try FileManager.default.createDirectory(at: bundleDirectory, withIntermediateDirectories: true)
        let diagnostics = try CLIRunner.run(["diagnostics", "--root", root.path, "--output", bundleDirectory.path])
        #expect(diagnostics.status == 0, "\(diagnostics.stderr)")
        let bundle = try #require(diagnostics.stdout.split(separator: "\n").last.map(String.init))
        let unpacked = work.appendingPathComponent("unpacked")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        #expect(try CLIRunner.execute("tar", ["-xzf", bundle, "-C", unpacked.path]).status == 0)
        for output in [installed, dryRun, status, policy, diagnostics] {
            #expect(!(output.stdout + output.stderr).contains(canary), "\(output.stdout)\(output.stderr)")
        }
        for directory in [root, unpacked] {
            for file in Self.files(below: directory) where file != passwordFile {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
                #expect(bytes.range(of: Data(canary.utf8)) == nil, "the password is in \(file)")
            }
        }
    }

    @Test func aNamedPasswordFileThatIsMissingIsAnError() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let answers = try InstallEndToEndTests.answers(listen: 18080, admin: 15000)
            .replacingOccurrences(
                of: "upstream_proxy: null",
                with:
                    "upstream_proxy: http://squid-user@127.0.0.1:3128\n  upstream_proxy_password_file: /etc/cachenode/proxy.password"
            )
        let answerFile = work.appendingPathComponent("answers.yaml").path
        try answers.write(toFile: answerFile, atomically: true, encoding: .utf8)
        let root = work.appendingPathComponent("root").path
        let result = try CLIRunner.run(["setup", "--answers", answerFile, "--root", root, "--dry-run"])
        #expect(result.status == 2)
        #expect(
            result.stderr.contains(
                "engine.upstream_proxy_password_file: \(root)/etc/cachenode/proxy.password does not exist (with --root "
                    + "every path of the answers lies below \(root), so /etc/cachenode/proxy.password is read from "
                    + "\(root)/etc/cachenode/proxy.password; write the password there"
            ),
            "\(result.stderr)"
        )
    }

    /// Under --root a password file that exists at the path the answers give, but not below the root, is not read:
    /// the error names the path looked at and says why, instead of calling an existing file missing.
    @Test func underRootThePasswordFileIsLookedUpBelowTheRootAndTheErrorSaysSo() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let outside = work.appendingPathComponent("pw").path
        try "secret\n".write(toFile: outside, atomically: true, encoding: .utf8)
        let answers = try InstallEndToEndTests.answers(listen: 18080, admin: 15000)
            .replacingOccurrences(
                of: "upstream_proxy: null",
                with: "upstream_proxy: http://squid-user@127.0.0.1:3128\n  upstream_proxy_password_file: \(outside)"
            )
        let answerFile = work.appendingPathComponent("answers.yaml").path
        try answers.write(toFile: answerFile, atomically: true, encoding: .utf8)
        let root = work.appendingPathComponent("root").path
        let result = try CLIRunner.run(["setup", "--answers", answerFile, "--root", root, "--dry-run"])
        #expect(result.status == 2)
        #expect(
            result.stderr.contains(
                "engine.upstream_proxy_password_file: \(root)\(outside) does not exist (with --root every path of the "
                    + "answers lies below \(root), so \(outside) is read from \(root)\(outside); write the password there, "
                    + "mode 0600, or give it in CACHENODE_PROXY_PASSWORD)"
            ),
            "\(result.stderr)"
        )
        #expect(!result.stderr.contains(" \(outside) does not exist"), "the error calls the existing file missing")
    }

    static func files(below directory: URL) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return walker.compactMap { ($0 as? String).map { directory.appendingPathComponent($0).path } }
            .filter {
                var info = stat(); return lstat($0, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            }
    }
}
