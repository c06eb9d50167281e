import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `cachenode serve` as a child process: configuration errors, ports in use, SIGTERM and kill -9 mid-fill.
@Suite(.serialized)
struct EngineCLITests {
    /// A running `cachenode serve` child.
    final class Child: @unchecked Sendable {
        let process: ChildProcess
        let log: URL

        init(config: String, log: URL) throws {
            self.log = log
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process = try ChildProcess([CLIRunner.binary, "serve", "--config", config], outputPath: log.path)
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Waits until `/health` answers 200, or the child exits.
        func waitUntilHealthy(adminPort: Int) async throws -> Bool {
            for _ in 0..<600 {
                if !process.isRunning { return false }
                if let response = try? await TestHTTPClient.get(port: adminPort, "/health"), response.status == 200 {
                    return true
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        func wait() async throws -> Int32 {
            let process = self.process
            return try await TestHTTPClient.blocking {
                process.waitUntilExit()
            }
        }
    }

    static func writeConfig(_ directory: TestCacheDirectory, listen: Int, admin: Int) throws -> String {
        let path = directory.root + "/cachenode.yaml"
        try directory.yaml(listenPort: listen, adminPort: admin).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func invalidConfigurationExitsTwoWithEveryProblem() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let path = directory.root + "/bad.yaml"
        let text = directory.yaml(listenPort: 8080, adminPort: 5000)
            .replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: nowhere")
            .replacingOccurrences(of: "block_size_kb: 64", with: "block_size_kb: 64\n  colour: blue")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try CLIRunner.run(["serve", "--config", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(path):"))
        #expect(result.stderr.contains("engine.listen"))
        #expect(result.stderr.contains("engine.colour"))
    }

    @Test func aPidFileThatCannotBeWrittenExitsOneNamingIt() async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let config = try Self.writeConfig(directory, listen: freeLoopbackPort(), admin: freeLoopbackPort())
        let pidFile = directory.root + "/no-such-directory/cachenode.pid"
        let result = try await TestHTTPClient.blocking {
            try CLIRunner.run(["serve", "--config", config, "--pid-file", pidFile])
        }
        #expect(result.status == 1)
        #expect(result.stderr.contains("--pid-file") && result.stderr.contains(pidFile), "\(result.stderr)")
    }

    @Test func portInUseExitsOneNamingTheAddress() async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(blocker) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(blocker, pointer, length)
                return getsockname(blocker, pointer, &length)
            }
        }
        listen(blocker, 1)
        let busy = Int(UInt16(bigEndian: address.sin_port))
        let config = try Self.writeConfig(directory, listen: busy, admin: freeLoopbackPort())
        let result = try await TestHTTPClient.blocking { try CLIRunner.run(["serve", "--config", config]) }
        #expect(result.status == 1)
        #expect(result.stderr.contains("127.0.0.1:\(busy)"))
        #expect(result.stderr.contains("already in use"))
    }

    @Test func sigtermStopsGracefullyWithExitZero() async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let origin = try await TestOrigin.start()
        let bytes = origin.add("/slow.bin", length: 256 * 1024, seed: 3)
        origin.setFault(.slow(100), for: "/slow.bin")
        let port = freeLoopbackPort()
        let admin = freeLoopbackPort()
        let child = try Child(
            config: try Self.writeConfig(directory, listen: port, admin: admin),
            log: URL(fileURLWithPath: directory.root + "/engine.log")
        )
        #expect(try await child.waitUntilHealthy(adminPort: admin), "\(child.output)")
        // A response in flight when SIGTERM arrives still finishes whole.
        async let inFlight = TestHTTPClient.get(port: port, "/slow.bin?cacheHostOrigin=\(origin.authority)")
        let giveUp = ContinuousClock.now + .seconds(30)
        while origin.bytesSent < 65_536 && ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(child.process.pid, SIGTERM)
        let response = try await inFlight
        #expect(response.status == 200)
        expectBytes(response.body, bytes)
        #expect(try await child.wait() == 0)
        await origin.stop()
    }

    @Test func killNineMidFillServesNoWrongByte() async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let origin = try await TestOrigin.start()
        let length = 3 * 1024 * 1024 + 123
        let bytes = origin.add("/big.bin", length: length, seed: 77)
        origin.setFault(.slow(5), for: "/big.bin")
        let port = freeLoopbackPort()
        let admin = freeLoopbackPort()
        let config = try Self.writeConfig(directory, listen: port, admin: admin)
        let first = try Child(config: config, log: URL(fileURLWithPath: directory.root + "/first.log"))
        #expect(try await first.waitUntilHealthy(adminPort: admin), "\(first.output)")
        let target = "/big.bin?cacheHostOrigin=\(origin.authority)"
        async let cut = TestHTTPClient.get(port: port, target)
        // Wait until part of the object is stored, then kill the engine without warning.
        for _ in 0..<400 {
            let journal = (try? String(contentsOfFile: directory.drive + "/cachenode/journal", encoding: .utf8)) ?? ""
            if journal.split(separator: "\n").filter({ $0.hasPrefix("B\t") }).count >= 3 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        kill(first.process.pid, SIGKILL)
        _ = try? await cut
        _ = try await first.wait()

        origin.setFault(nil, for: "/big.bin")
        let second = try Child(config: config, log: URL(fileURLWithPath: directory.root + "/second.log"))
        #expect(try await second.waitUntilHealthy(adminPort: admin), "\(second.output)")
        let whole = try await TestHTTPClient.get(port: port, target)
        #expect(whole.status == 200)
        expectBytes(whole.body, bytes)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10 {
            let start = Int.random(in: 0..<length, using: &generator)
            let end = min(length - 1, start + Int.random(in: 0..<200_000, using: &generator))
            let part = try await TestHTTPClient.get(port: port, target, headers: [("Range", "bytes=\(start)-\(end)")])
            expectBytes(part.body, bytes[start...end])
        }
        kill(second.process.pid, SIGTERM)
        #expect(try await second.wait() == 0)
        await origin.stop()
    }
}
