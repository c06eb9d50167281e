import CacheProtocol
import CacheNodeCore
import CacheNodeTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

struct ListenerTests {
    @Test func portInUseFailsRun() async throws {
        try await EngineHarness.with { first in
            try await EngineHarness.withDirectory { directory in
                let configuration = directory.configuration(listen: "127.0.0.1:\(first.port)")
                let second = try CacheEngine(configuration: configuration, allowlist: OriginAllowlist(patterns: []))
                await #expect(throws: EngineError.self) { try await second.run() }
                await #expect(throws: EngineError.self) { try await second.listenPort() }
            }
        }
    }
}

struct ConnectionLimitTests {
    @Test func idleConnectionsAreClosed() async throws {
        try await EngineHarness.with(configure: { $0.engine.idleTimeoutSeconds = 1 }) { harness in
            let port = harness.port
            let received = try await TestHTTPClient.blocking {
                let fd = try TestHTTPClient.connect(port: port)
                defer { close(fd) }
                // Half a request line, then silence: the engine closes the connection.
                try TestHTTPClient.send(fd, Array("GET /slow".utf8))
                return try TestHTTPClient.receiveAll(fd)
            }
            #expect(received.isEmpty)
        }
    }

    @Test func connectionsBeyondTheCapAreRefused() async throws {
        // The held connections send nothing: on a loaded machine the idle timeout must not close one first.
        try await EngineHarness.with(configure: {
            $0.engine.maxConnections = 2
            $0.engine.idleTimeoutSeconds = 600
        }) { harness in
            harness.origin.add("/cap.bin", length: 10, seed: 1)
            let port = harness.port
            let held = try await TestHTTPClient.blocking {
                [try TestHTTPClient.connect(port: port), try TestHTTPClient.connect(port: port)]
            }
            // connect() returns once the kernel has the connection; wait until the engine has accepted both.
            #expect(try await harness.eventually { await harness.engine.status().connections == 2 })
            let third = try await TestHTTPClient.raw(port: port, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(third.isEmpty)
            held.forEach { close($0) }
            // Once the held connections close, requests are served again.
            #expect(try await harness.eventually { (try? await harness.get("/cap.bin").status) == 200 })
        }
    }
}

/// The order of a graceful stop, end to end: idle connections close at once, a response in flight finishes whole,
/// nothing new is accepted, and `run()` returns after that.
struct GracefulShutdownTests {
    @Test func idleClosesAtOnceTheBusyResponseFinishesThenRunReturns() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/slow.bin", length: 600_000, seed: 9)
            harness.origin.setFault(.slow(150), for: "/slow.bin")
            let port = harness.port
            // An idle kept-alive connection: one request answered, then nothing.
            harness.origin.add("/small.bin", length: 100, seed: 3)
            let idle = try await TestHTTPClient.blocking { try TestHTTPClient.connect(port: port) }
            defer { close(idle) }
            try TestHTTPClient.send(idle, Array("GET \(harness.target("/small.bin")) HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            let busy = Task { try await harness.get("/slow.bin") }
            // Wait until the slow response is under way (a generous bound: a loaded machine is slow to start it).
            let deadline = ContinuousClock.now + .seconds(180)
            while harness.origin.mostPacedAtOnce == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(harness.origin.mostPacedAtOnce > 0, "the slow response never started")
            harness.engine.shutdown()
            // The idle connection is closed by the engine: its read ends after the one response.
            let idleBytes = try await TestHTTPClient.blocking { try TestHTTPClient.receiveAll(idle) }
            #expect(try TestHTTPClient.parseAll(idleBytes).count == 1)
            // Nothing new is accepted.
            await #expect(throws: (any Error).self) {
                _ = try await TestHTTPClient.get(port: port, harness.target("/small.bin"))
            }
            // The response in flight is whole.
            let response = try await busy.value
            #expect(response.status == 200 && response.complete)
            expectBytes(response.body, bytes)
            try await harness.task.value
        }
    }
}

/// A graceful stop while a slow client reads a stored object: the response is whole (sendfile from disk), then the
/// connection closes. The booted-Debian package upgrade does exactly this.
struct GracefulShutdownFromDiskTests {
    @Test func aSlowReaderOfAStoredObjectGetsItWholeAcrossAStop() async throws {
        try await EngineHarness.with(blockSize: 1 << 20) { harness in
            let bytes = harness.origin.add("/disk.bin", length: 4 << 20, seed: 5)
            expectBytes(try await harness.get("/disk.bin").body, bytes)
            await harness.engine.settle()
            let port = harness.port
            let target = harness.target("/disk.bin")
            // A small receive window: the engine's writes wait for the reader.
            let fd = try await TestHTTPClient.blocking { try TestHTTPClient.connect(port: port, receiveBuffer: 16384) }
            defer { close(fd) }
            try TestHTTPClient.send(
                fd,
                Array("GET \(target) HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4194303\r\nConnection: close\r\n\r\n".utf8)
            )
            var first = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &first, first.count)
            #expect(count > 0)
            harness.engine.shutdown()
            let rest = try await TestHTTPClient.blocking { try TestHTTPClient.receiveAll(fd) }
            let response = try TestHTTPClient.parse(Array(first.prefix(max(0, count))) + rest)
            #expect(response.status == 206)
            expectBytes(response.body, bytes)
        }
    }
}
