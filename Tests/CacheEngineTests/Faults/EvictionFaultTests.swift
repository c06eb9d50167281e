import Foundation
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

#if canImport(Glibc)
import Glibc
#endif

/// Eviction of an object while many clients stream it.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CACHENODE_FAULT_SUITE"] == "1", "the fault suite runs with Faults/run"))
struct EvictionFaultTests {
    @Test(.disabled("hangs past 60 s on this machine, cause not yet found (engine or the stalled test clients); see issue 7"))
    func fiftyClientsStreamingAnEvictedObjectGetExactBytes() async throws {
        let capacity: Int64 = 10_000_000
        let harness = try await EngineHarness.start(driveBytes: capacity)
        let length = 4 * 1024 * 1024
        let streamed = harness.origin.add("/a.bin", length: length, seed: 91)
        let others = [harness.origin.add("/b.bin", length: length, seed: 92), harness.origin.add("/c.bin", length: length, seed: 93)]
        #expect(try await harness.get("/a.bin").body == streamed)
        await harness.engine.settle()
        let key = "\(harness.origin.authority)/a.bin"
        let blocks = harness.engine.store.storedBlocks(key: key).count

        // Fifty clients start streaming, then stall with small receive buffers.
        let request = Array("GET \(harness.target("/a.bin")) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n".utf8)
        let sockets = try await TestHTTPClient.blocking {
            try (0..<50).map { _ -> (Int32, [UInt8]) in
                let fd = try TestHTTPClient.connect(port: harness.port)
                var size: Int32 = 4096
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                try TestHTTPClient.send(fd, request)
                return (fd, ClientFaultTests.receive(fd, upTo: 1000))
            }
        }
        defer { sockets.forEach { close($0.0) } }

        // Two more objects do not fit beside it: the least recently used blocks of the streamed object go.
        for (index, bytes) in others.enumerated() {
            #expect(try await harness.get(index == 0 ? "/b.bin" : "/c.bin").body == bytes)
        }
        await harness.engine.settle()
        #expect(harness.engine.store.storedBlocks(key: key).count < blocks, "nothing of the streamed object was evicted")

        let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for (fd, start) in sockets {
                group.addTask { try await TestHTTPClient.blocking { try TestHTTPClient.parse(start + TestHTTPClient.receiveAll(fd)) } }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for response in responses {
            #expect(response.status == 200)
            #expect(response.complete)
            #expect(response.body == streamed)
        }
        await harness.engine.settle()
        for drive in harness.engine.store.driveStatus() {
            #expect(drive.usedBytes <= drive.capacityBytes)
            #expect(DiskUsage.bytes(under: drive.path) <= drive.capacityBytes)
        }
        try await harness.stopAll()
    }
}

/// Sizes of regular files on disk, to check a drive against its configured size.
enum DiskUsage {
    static func bytes(under path: String) -> Int64 {
        guard let walker = opendir(path) else { return 0 }
        defer { closedir(walker) }
        var total: Int64 = 0
        while let entry = readdir(walker) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var info = stat()
            guard lstat(child, &info) == 0 else { continue }
            if (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) {
                total += bytes(under: child)
            } else if (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG) {
                total += Int64(info.st_size)
            }
        }
        return total
    }

    /// Regular files under `path`, depth first.
    static func files(under path: String) -> [String] {
        guard let walker = opendir(path) else { return [] }
        defer { closedir(walker) }
        var result: [String] = []
        while let entry = readdir(walker) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var info = stat()
            guard lstat(child, &info) == 0 else { continue }
            if (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) { result += files(under: child) } else { result.append(child) }
        }
        return result.sorted()
    }
}
