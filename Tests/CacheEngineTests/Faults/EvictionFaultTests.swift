import Foundation
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Eviction of an object while many clients stream it.
@Suite
struct EvictionFaultTests {
    @Test func fiftyClientsStreamingAnEvictedObjectGetExactBytes() async throws {
        let length = KernelBuffers.stallingLength
        // Room for one and a half objects: fetching two others evicts the streamed one.
        let capacity = Int64(length + length / 2)
        try await EngineHarness.with(configure: { $0.engine.idleTimeoutSeconds = 120 }, driveBytes: capacity) {
            harness in
            let streamed = harness.origin.add("/a.bin", length: length, seed: 91)
            let others = [
                harness.origin.add("/b.bin", length: length, seed: 92),
                harness.origin.add("/c.bin", length: length, seed: 93),
            ]
            expectBytes(try await harness.get("/a.bin").body, streamed)
            await harness.engine.settle()
            let key = "\(harness.origin.authority)/a.bin"
            let blocks = harness.engine.store.storedBlocks(key: key).count

            // Fifty clients start streaming, then stop reading: each response stalls with most of it still to send.
            let request = Array(
                "GET \(harness.target("/a.bin")) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n".utf8
            )
            let sockets = try await TestHTTPClient.blocking {
                try (0..<50).map { _ -> (Int32, [UInt8]) in
                    let fd = try TestHTTPClient.connect(
                        port: harness.port,
                        receiveBuffer: KernelBuffers.clientReceiveBuffer
                    )
                    try TestHTTPClient.send(fd, request)
                    return (fd, ClientFaultTests.receive(fd, upTo: 1000))
                }
            }
            defer { sockets.forEach { close($0.0) } }

            // Two more objects do not fit beside it: the least recently used blocks of the streamed object go.
            for (index, bytes) in others.enumerated() {
                expectBytes(try await harness.get(index == 0 ? "/b.bin" : "/c.bin").body, bytes)
            }
            await harness.engine.settle()
            #expect(
                harness.engine.store.storedBlocks(key: key).count < blocks,
                "nothing of the streamed object was evicted"
            )
            #expect(await harness.engine.status().connections >= 50, "the streams ended before the eviction")

            // The clients read on, ten at a time, to keep the test's memory small.
            for group in stride(from: 0, to: sockets.count, by: 10) {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for (index, (fd, start)) in sockets[group..<min(group + 10, sockets.count)].enumerated() {
                        tasks.addTask {
                            let response = try await TestHTTPClient.blocking {
                                try TestHTTPClient.parse(start + TestHTTPClient.receiveAll(fd))
                            }
                            #expect(response.status == 200)
                            #expect(response.complete, "client \(group + index)")
                            expectBytes(response.body, streamed, "client \(group + index)")
                        }
                    }
                    try await tasks.waitForAll()
                }
            }
            await harness.engine.settle()
            for drive in harness.engine.store.driveStatus() {
                #expect(drive.usedBytes <= drive.capacityBytes)
                #expect(DiskUsage.bytes(under: drive.path) <= drive.capacityBytes)
            }
        }
    }
}

/// How much the kernel buffers for one loopback connection, so a test can make a response that a client who stops
/// reading really stalls (the rest cannot fit in the socket buffers).
enum KernelBuffers {
    /// The client's receive buffer, fixed before the handshake (the kernel doubles it).
    static let clientReceiveBuffer: Int32 = 65_536

    /// The largest send buffer TCP autotuning gives a socket (net.ipv4.tcp_wmem, third field; 4 MiB by default).
    static let sendMaximum: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) } ?? 4 * 1024 * 1024
    }()

    /// An object length that leaves at least half of it unsent when the client stops reading.
    static var stallingLength: Int {
        let needed = 2 * (sendMaximum + 2 * Int(clientReceiveBuffer)) + 1
        let mebibyte = 1024 * 1024
        return max(8 * mebibyte, (needed + mebibyte - 1) / mebibyte * mebibyte)
    }
}

/// Sizes of regular files on disk, to check a drive against its configured size.
enum DiskUsage {
    /// Total size of the regular files under `path`.
    static func bytes(under path: String) -> Int64 {
        entries(under: path).reduce(0) { $0 + Int64($1.size) }
    }

    /// Regular files under `path` (anything that is not a directory), sorted.
    static func files(under path: String) -> [String] {
        entries(under: path).map(\.path).sorted()
    }

    /// Every non-directory below `path`, depth first, with its size when it is a regular file (0 otherwise).
    private static func entries(under path: String) -> [(path: String, size: Int)] {
        guard let walker = opendir(path) else { return [] }
        defer { closedir(walker) }
        var result: [(path: String, size: Int)] = []
        while let entry = readdir(walker) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            var info = stat()
            guard lstat(child, &info) == 0 else { continue }
            switch info.st_mode & mode_t(S_IFMT) {
            case mode_t(S_IFDIR): result += entries(under: child)
            case mode_t(S_IFREG): result.append((child, Int(info.st_size)))
            default: result.append((child, 0))
            }
        }
        return result
    }
}
