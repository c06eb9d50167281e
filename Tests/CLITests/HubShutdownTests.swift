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
        var first = [UInt8](repeating: 0, count: 4096)
        let count = read(idle, &first, first.count)
        #expect(count > 0 && String(decoding: first.prefix(max(0, count)), as: UTF8.self).hasPrefix("HTTP/1.1 200"))

        #expect(hub.stop() == 0, "\(hub.output)")
        // The idle connection was closed by the service (end of file), not left to the process's exit alone.
        let rest = try await TestHTTPClient.blocking { try TestHTTPClient.receiveAll(idle) }
        #expect(rest.isEmpty)
        #expect(hub.output.contains("hub service stopped"), "\(hub.output)")
        // Nothing listens any more.
        await #expect(throws: (any Error).self) { _ = try await TestHTTPClient.get(port: port, "/health") }
    }
}
