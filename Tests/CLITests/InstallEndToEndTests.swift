import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The install, the self-test, a reconfigure and the uninstall, end to end: the real binary, a temporary root,
/// the engine on loopback and a real origin.
@Suite(.serialized)
struct InstallEndToEndTests {
    /// The trial answers on free loopback ports.
    static func answers(listen: Int, admin: Int, cores: Int = 2, name: String = "Trial-1") throws -> String {
        var text = try String(
            contentsOf: CLIRunner.repository.appendingPathComponent("Resources/answers/trial.yaml"),
            encoding: .utf8
        )
        text = text.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:\(listen)")
        text = text.replacingOccurrences(of: "admin: 127.0.0.1:5000", with: "admin: 127.0.0.1:\(admin)")
        text = text.replacingOccurrences(of: "cores: 2", with: "cores: \(cores)")
        text = text.replacingOccurrences(of: "name: Trial-1", with: "name: \(name)")
        return text
    }

    static func pid(in root: URL) -> pid_t? {
        let file = root.appendingPathComponent("var/lib/cachenode/cachenode.pid").path
        return (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    static func alive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0
            && !((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z") ?? true)
    }

    /// The README's first steps with the trial answer file, on a machine without internet (as CI is): the self-test
    /// cannot reach the CDN, the engine says why with a 502, and the trial install stays installed (exit 0).
    @Test func theTrialInstallsWithoutReachingTheCDN() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trial-offline-\(UUID().uuidString)")
        let root = work.appendingPathComponent("demo")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer {
            _ = try? CLIRunner.run(["uninstall", "--root", root.path])
            try? FileManager.default.removeItem(at: work)
        }
        // The trial answers as shipped, on free ports so that other tests never collide with them.
        let answerFile = work.appendingPathComponent("trial.yaml").path
        try Self.answers(listen: freeLoopbackPort(), admin: freeLoopbackPort()).write(
            toFile: answerFile,
            atomically: true,
            encoding: .utf8
        )
        let installed = try CLIRunner.run(["setup", "--root", root.path, "--answers", answerFile])
        #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
        #expect(installed.stdout.contains("Node Trial-1 is installed under \(root.path)."))
        var hints = addrinfo()
        var list: UnsafeMutablePointer<addrinfo>?
        let cdnResolves = getaddrinfo("au.download.windowsupdate.com", "80", &hints, &list) == 0
        if cdnResolves {
            freeaddrinfo(list)
        } else {
            #expect(
                installed.stdout.contains(
                    "warning: self-test: the engine answers, but the origin is unreachable (502: origin unreachable: cannot resolve au.download.windowsupdate.com"
                ),
                "\(installed.stdout)"
            )
        }
        let status = try CLIRunner.run(["status", "--root", root.path])
        #expect(status.status == 0, "the engine keeps running: \(status.stdout)")
    }

    @Test func installSelfTestReconfigureKeepsTheCacheAndUninstall() async throws {
        let origin = try await TestOrigin.start()
        defer { Task { await origin.stop() } }
        // The validation object: a GIF of the size the real CDN serves.
        let gif = Array("GIF89a".utf8) + (0..<(969_710 - 6)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        origin.add("/mscomtest/wuidt.gif", object: .init(bytes: gif, etag: "\"wuidt\"", contentType: "image/gif"))
        let content = origin.add("/filestreamingservice/files/piece.bin", length: 3 << 20, seed: 9)

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("install-e2e-\(UUID().uuidString)")
        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let listen = freeLoopbackPort()
        let admin = freeLoopbackPort()
        let answerFile = work.appendingPathComponent("answers.yaml").path
        try Self.answers(listen: listen, admin: admin).write(toFile: answerFile, atomically: true, encoding: .utf8)
        let selfTest = ["--self-test-origin", origin.authority]

        // Install: every step reported, the self-test through the engine passes.
        let installed = try CLIRunner.run(["setup", "--answers", answerFile, "--root", root.path] + selfTest)
        defer {
            if let pid = Self.pid(in: root), Self.alive(pid) { kill(pid, SIGKILL) }
        }
        #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
        #expect(installed.stdout.contains("Node Trial-1 is installed under \(root.path)."))
        #expect(installed.stdout.contains("Point clients at it: DOCacheHost = "))
        #expect(!installed.stdout.contains("warning:"), "\(installed.stdout)")
        #expect(origin.requests("/mscomtest/wuidt.gif") >= 1)
        let firstPid = try #require(Self.pid(in: root))
        #expect(Self.alive(firstPid))

        // The validation request, as a client sends it.
        let validation = try await TestHTTPClient.get(
            port: listen,
            "/mscomtest/wuidt.gif?cacheHostOrigin=\(origin.authority)"
        )
        #expect(validation.status == 200)
        #expect(validation.header("Content-Type") == "image/gif")
        expectBytes(validation.body, gif)

        let verified = try CLIRunner.run(["verify", "--root", root.path] + selfTest)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let status = try CLIRunner.run(["status", "--root", root.path])
        #expect(status.status == 0)
        #expect(status.stdout.contains("engine ") && status.stdout.contains(" running "))

        // One piece into the cache.
        let target = "/filestreamingservice/files/piece.bin?P1=1&cacheHostOrigin=\(origin.authority)"
        let range = [("Range", "bytes=1048576-2097151")]
        let cold = try await TestHTTPClient.get(port: listen, target, headers: range)
        #expect(cold.status == 206)
        expectBytes(cold.body, content[1_048_576..<2_097_152])
        let fetches = origin.requests("/filestreamingservice/files/piece.bin")
        #expect(fetches >= 1)

        // Reconfigure: the change is shown, the engine restarts, the piece is still a hit.
        try Self.answers(listen: listen, admin: admin, cores: 1).write(
            toFile: answerFile,
            atomically: true,
            encoding: .utf8
        )
        let reconfigured = try CLIRunner.run(
            ["setup", "--answers", answerFile, "--root", root.path, "--yes"] + selfTest
        )
        #expect(reconfigured.status == 0, "\(reconfigured.stdout)\n\(reconfigured.stderr)")
        #expect(reconfigured.stdout.contains("Reconfiguring node Trial-1"))
        #expect(reconfigured.stdout.contains("resources.cores: 2 -> 1"))
        let secondPid = try #require(Self.pid(in: root))
        #expect(secondPid != firstPid)
        #expect(!Self.alive(firstPid))
        let warm = try await TestHTTPClient.get(port: listen, target, headers: range)
        #expect(warm.status == 206)
        expectBytes(warm.body, content[1_048_576..<2_097_152])
        #expect(
            origin.requests("/filestreamingservice/files/piece.bin") == fetches,
            "the cached piece was fetched again"
        )

        // The same answers again change nothing; the node name cannot change.
        let again = try CLIRunner.run(["setup", "--answers", answerFile, "--root", root.path, "--yes"] + selfTest)
        #expect(again.status == 0)
        #expect(again.stdout.contains("nothing to change"), "\(again.stdout)")
        #expect(Self.pid(in: root) == secondPid)
        try Self.answers(listen: listen, admin: admin, name: "Renamed-1").write(
            toFile: answerFile,
            atomically: true,
            encoding: .utf8
        )
        let renamed = try CLIRunner.run(["setup", "--answers", answerFile, "--root", root.path, "--yes"] + selfTest)
        #expect(renamed.status != 0)
        #expect(renamed.stderr.contains("Trial-1"), "\(renamed.stderr)")

        // Uninstall: the engine stops and what the install created is gone.
        let uninstalled = try CLIRunner.run(["uninstall", "--root", root.path])
        #expect(uninstalled.status == 0, "\(uninstalled.stdout)\(uninstalled.stderr)")
        #expect(!Self.alive(secondPid))
        #expect(
            !FileManager.default.fileExists(
                atPath: root.appendingPathComponent("var/lib/cachenode/cachenode.yaml").path
            )
        )
        #expect(
            !FileManager.default.fileExists(
                atPath: root.appendingPathComponent("etc/systemd/system/cachenode.service").path
            )
        )
        let down = try CLIRunner.run(["status", "--root", root.path])
        #expect(down.status == 1)
    }
}
