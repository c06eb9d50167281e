import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` of a child `cachenode serve` during eviction and during journal writes, then a byte-exact restart.
@Suite(.serialized)
struct ProcessFaultTests {
    /// When to kill: once the journal shows evictions, or in the middle of a burst of block records.
    enum Moment: String, CaseIterable, Sendable {
        case eviction
        case journalWrite
    }

    @Test(arguments: Moment.allCases)
    func killNineThenEveryObjectMatchesTheOrigin(moment: Moment) async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let origin = try await TestOrigin.start()
        // Forty objects of 200 KiB into a 4 MB drive: eviction runs all the time.
        let objects = (0..<40).map { origin.add("/o\($0).bin", length: 200 * 1024 + $0, seed: UInt8(1 + $0)) }
        let port = freeLoopbackPort()
        let admin = freeLoopbackPort()
        let config = directory.root + "/cachenode.yaml"
        try directory.yaml(listenPort: port, adminPort: admin, driveGB: 0.004).write(
            toFile: config,
            atomically: true,
            encoding: .utf8
        )
        let first = try EngineCLITests.Child(config: config, log: URL(fileURLWithPath: directory.root + "/first.log"))
        #expect(try await first.waitUntilHealthy(adminPort: admin), "\(first.output)")

        // Many concurrent small fills keep the journal busy while the engine is killed.
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        for round in 0..<40 {
                            let index = (client * 5 + round) % objects.count
                            let range = "bytes=\(round * 1000)-\(round * 1000 + 70_000)"
                            _ = try? await TestHTTPClient.get(
                                port: port,
                                "/o\(index).bin?cacheHostOrigin=\(origin.authority)",
                                headers: [("Range", range)]
                            )
                        }
                    }
                }
            }
        }
        let journalPath = directory.drive + "/cachenode/journal"
        var reached = false
        // Generous: on a loaded machine the fills come slowly; the kill happens as soon as the moment is there.
        let giveUp = ContinuousClock.now + .seconds(60)
        while !reached && ContinuousClock.now < giveUp {
            let journal = (try? String(contentsOfFile: journalPath, encoding: .utf8)) ?? ""
            let lines = journal.split(separator: "\n")
            let ready =
                switch moment {
                case .eviction: lines.contains { $0.hasPrefix("E\t") || $0.hasPrefix("D\t") }
                case .journalWrite: lines.filter { $0.hasPrefix("B\t") }.count >= 20
                }
            reached = ready
            if !ready { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(reached, "the journal never showed \(moment.rawValue)")
        kill(first.process.pid, SIGKILL)
        _ = try await first.wait()
        await load.value

        let second = try EngineCLITests.Child(config: config, log: URL(fileURLWithPath: directory.root + "/second.log"))
        #expect(try await second.waitUntilHealthy(adminPort: admin), "\(second.output)")
        for (index, bytes) in objects.enumerated() {
            let target = "/o\(index).bin?cacheHostOrigin=\(origin.authority)"
            // The range first, so what survived the kill is served before anything is refilled.
            let part = try await TestHTTPClient.get(port: port, target, headers: [("Range", "bytes=1000-150000")])
            expectBytes(part.body, bytes[1000...150_000], "object \(index)")
            let whole = try await TestHTTPClient.get(port: port, target)
            #expect(whole.status == 200, "object \(index)")
            expectBytes(whole.body, bytes, "object \(index)")
        }
        kill(second.process.pid, SIGTERM)
        #expect(try await second.wait() == 0)
        await origin.stop()
    }
}
