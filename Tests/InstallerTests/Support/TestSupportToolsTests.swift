import CacheNodeTestSupport
import Foundation
import Testing

/// The test-support tools other suites rely on: child processes and the openssl-made CA.
struct TestSupportToolsTests {
    @Test func aCommandGetsItsInputAndReportsOutputErrorsAndStatusApart() throws {
        let input = String(repeating: "0123456789abcdef\n", count: 20_000)
        let result = try ChildProcess.run(["sh", "-c", "wc -c; echo oops >&2; exit 3"], stdin: input)
        #expect(result.status == 3)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(input.utf8.count)")
        #expect(result.stderr == "oops\n")
        let moved = try ChildProcess.run(["pwd"], directory: "/tmp", environment: ["EXTRA": "1"])
        #expect(moved.stdout == "/tmp\n")
        #expect(try ChildProcess.run(["sh", "-c", "echo $EXTRA"], environment: ["EXTRA": "yes"]).stdout == "yes\n")
        #expect(throws: ChildProcess.Failure.self) { try ChildProcess.run(["/nonexistent/program"]) }
    }

    @Test func aChildInheritsNoDescriptorButItsStandardThree() throws {
        // A descriptor the test process holds without close-on-exec, as a listening socket of a test server is.
        let held = open("/dev/null", O_RDONLY)
        #expect(held > 2)
        defer { close(held) }
        let listing = try ChildProcess.run(["sh", "-c", "ls /proc/$$/fd"])
        let descriptors = Set(listing.stdout.split(separator: "\n").compactMap { Int32($0) })
        #expect(!descriptors.contains(held))
        #expect(descriptors.isSuperset(of: [0, 1, 2]))
    }

    @Test func aBackgroundProcessRunsUntilSignalled() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess(["sh", "-c", "echo started; sleep 600"], outputPath: output)
        var started = false
        for _ in 0..<600 where !started {
            started = (try? String(contentsOfFile: output, encoding: .utf8)) == "started\n"
            if !started { usleep(20_000) }
        }
        #expect(started)
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(child.waitUntilExit() == 128 + SIGTERM)
        #expect(!child.isRunning)
    }

    @Test func theAuthoritySignsCertificatesOpensslVerifies() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try TestCertificateAuthority.make(in: directory)
        let good = try authority.issue(names: ["cache.test", "127.0.0.1"], file: "good")
        let old = try authority.issue(names: ["cache.test"], expired: true, file: "old")
        let verify = { (path: String) in
            try ChildProcess.run(["openssl", "verify", "-CAfile", authority.certificatePath, path])
        }
        #expect(try verify(good.certificate).status == 0)
        let expired = try verify(old.certificate)
        #expect(expired.status != 0)
        #expect((expired.stdout + expired.stderr).contains("expired"))
        let text = try ChildProcess.run([
            "openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", good.certificate,
        ])
        #expect(text.stdout.contains("DNS:cache.test"))
        #expect(text.stdout.contains("IP Address:127.0.0.1"))
        let keyMatches =
            try ChildProcess.run(["openssl", "x509", "-noout", "-pubkey", "-in", good.certificate]).stdout
            == ChildProcess.run(["openssl", "pkey", "-pubout", "-in", good.key]).stdout
        #expect(keyMatches)
    }
}
