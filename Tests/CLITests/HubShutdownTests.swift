import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `hub serve` stops gracefully on SIGTERM: it stops accepting, closes idle kept-alive connections, and exits 0.
struct HubShutdownTests {
    @Test func sigtermClosesIdleConnectionsAndExitsZero() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-stop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.path
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let port = freeLoopbackPort()
        let hub = try BackgroundProcess(
            ["hub", "serve", "--listen", "127.0.0.1:\(port)", "--plain-http", "--root", root],
            outputPath: work.appendingPathComponent("hub.log").path
        )
        defer { hub.stop() }
        #expect(hub.wait { hub.output.contains("Hub service listening on http://127.0.0.1:\(port)") }, "\(hub.output)")
        // A kept-alive connection, answered once and then idle.
        let idle = try await TestHTTPClient.blocking { try TestHTTPClient.connect(port: port) }
        defer { close(idle) }
        try TestHTTPClient.send(idle, Array("GET /health HTTP/1.1\r\nHost: hub\r\n\r\n".utf8))
        // Wait until the answer has begun, so the connection is idle when the stop comes.
        var first = [UInt8](repeating: 0, count: 4096)
        let count = read(idle, &first, first.count)
        #expect(count > 0)

        #expect(hub.stop() == 0, "\(hub.output)")
        // The connection carried exactly the one answer, then the service closed it (end of file).
        let rest = try await TestHTTPClient.blocking { try TestHTTPClient.receiveAll(idle) }
        let answers = try TestHTTPClient.parseAll(Array(first.prefix(max(0, count))) + rest)
        #expect(answers.map(\.status) == [200])
        #expect(hub.output.contains("hub service stopped"), "\(hub.output)")
        // Nothing listens any more.
        await #expect(throws: (any Error).self) { _ = try await TestHTTPClient.get(port: port, "/health") }
    }
}
