import Foundation
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Misbehaving clients: the engine closes or finishes them and keeps serving everyone else exact bytes.
@Suite
struct ClientFaultTests {
    /// An engine with a three-second request and idle timeout unless told otherwise, and a healthy object. The
    /// timeout also applies to the healthy client: shorter, a busy machine (the whole test run shares two cores) can
    /// delay its request past it.
    static func withEngine(idleTimeout: Int = 3, _ body: (EngineHarness, [UInt8]) async throws -> Void) async throws {
        try await EngineHarness.with(configure: {
            $0.engine.idleTimeoutSeconds = idleTimeout
            $0.engine.maxConnections = 2500
        }) { harness in
            try await body(harness, harness.origin.add("/healthy.bin", length: 400_000, seed: 81))
        }
    }

    static func request(_ harness: EngineHarness, _ path: String, range: String? = nil, close: Bool = true) -> [UInt8] {
        var text = "GET \(harness.target(path)) HTTP/1.1\r\nHost: cache\r\n"
        if let range { text += "Range: \(range)\r\n" }
        text += close ? "Connection: close\r\n\r\n" : "\r\n"
        return Array(text.utf8)
    }

    /// Waits up to `milliseconds` for the socket to become readable; true when it was.
    static func readable(_ fd: Int32, milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    /// Reads at most `count` bytes.
    static func receive(_ fd: Int32, upTo count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return received > 0 ? Array(buffer[0..<received]) : []
    }

    @Test func slowlorisIsClosedWhileOthersAreServed() async throws {
        try await Self.withEngine { harness, healthy in
            let request = Self.request(harness, "/healthy.bin")
            let slow = Task {
                try await TestHTTPClient.blocking { () -> Int in
                    let fd = try TestHTTPClient.connect(port: harness.port)
                    defer { close(fd) }
                    // One byte, then wait for the engine to close; a byte every 250 ms is far slower than a request.
                    for (sent, byte) in request.enumerated() {
                        guard (try? TestHTTPClient.send(fd, [byte])) != nil else { return sent }
                        if Self.readable(fd, milliseconds: 250) { return sent }
                    }
                    return request.count
                }
            }
            try await harness.expectHealthy("/healthy.bin", healthy)
            let sent = try await slow.value
            #expect(sent < request.count, "the engine waited for the whole slow request")
        }
    }

    @Test func clientThatStopsReadingIsClosedWhileOthersAreServed() async throws {
        try await Self.withEngine { harness, healthy in
            // Larger than what the kernel buffers for one connection, so the engine's writes stall.
            let big = harness.origin.add("/big.bin", length: KernelBuffers.stallingLength, seed: 83)
            expectBytes(try await harness.get("/big.bin").body, big)
            let fd = try TestHTTPClient.connect(port: harness.port, receiveBuffer: KernelBuffers.clientReceiveBuffer)
            defer { close(fd) }
            try TestHTTPClient.send(fd, Self.request(harness, "/big.bin"))
            let start = try await TestHTTPClient.blocking { Self.receive(fd, upTo: 1000) }
            #expect(!start.isEmpty)
            try await harness.expectHealthy("/healthy.bin", healthy)
            // The stalled connection is closed by the engine's timeout, not left open.
            #expect(try await harness.eventually { await harness.engine.status().connections == 0 })
            let rest = try await TestHTTPClient.blocking { try TestHTTPClient.receiveAll(fd) }
            let response = try TestHTTPClient.parse(start + rest)
            #expect(
                !response.complete,
                "the whole object fitted in the socket buffers: the client never stalled the engine"
            )
            expectPrefix(response.body, of: big)
        }
    }

    @Test func clientAbortingMidStreamLeavesOthersServed() async throws {
        try await Self.withEngine { harness, healthy in
            let big = harness.origin.add("/big.bin", length: 4 * 1024 * 1024, seed: 85)
            for _ in 0..<5 {
                let fd = try TestHTTPClient.connect(port: harness.port)
                try TestHTTPClient.send(fd, Self.request(harness, "/big.bin"))
                _ = try await TestHTTPClient.blocking { Self.receive(fd, upTo: 100_000) }
                // Reset, not a polite close.
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                close(fd)
            }
            try await harness.expectHealthy("/healthy.bin", healthy)
            expectBytes(try await harness.get("/big.bin").body, big)
            #expect(try await harness.eventually { await harness.engine.status().connections == 0 })
        }
    }

    @Test func twoThousandConcurrentConnectionsAllGetExactBytes() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 16_384 {
            limit.rlim_cur = min(16_384, limit.rlim_max)
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        try await Self.withEngine(idleTimeout: 60) { harness, healthy in
            let small = harness.origin.add("/small.bin", length: 20_000, seed: 87)
            expectBytes(try await harness.get("/small.bin").body, small)
            let count = 2000
            let sockets = try await TestHTTPClient.blocking {
                try (0..<count).map { _ in try TestHTTPClient.connect(port: harness.port) }
            }
            defer { sockets.forEach { close($0) } }
            try await harness.expectHealthy("/healthy.bin", healthy)
            let responses = try await TestHTTPClient.blocking { () -> [TestResponse] in
                for (index, fd) in sockets.enumerated() {
                    try TestHTTPClient.send(
                        fd,
                        Self.request(harness, "/small.bin", range: "bytes=\(index)-\(index + 999)")
                    )
                }
                return try sockets.map { try TestHTTPClient.parse(TestHTTPClient.receiveAll($0)) }
            }
            for (index, response) in responses.enumerated() {
                #expect(response.status == 206)
                expectBytes(response.body, small[index...(index + 999)], "connection \(index)")
            }
        }
    }

    @Test func pipelinedBurstIsAnsweredInOrder() async throws {
        try await Self.withEngine { harness, healthy in
            let bytes = harness.origin.add("/p.bin", length: 300_000, seed: 89)
            let ranges = (0..<40).map { index in (index * 7_000, index * 7_000 + 999 + index) }
            var burst: [UInt8] = []
            for (offset, (start, end)) in ranges.enumerated() {
                burst += Self.request(
                    harness,
                    "/p.bin",
                    range: "bytes=\(start)-\(end)",
                    close: offset == ranges.count - 1
                )
            }
            let answer = Task { try await TestHTTPClient.raw(port: harness.port, burst) }
            try await harness.expectHealthy("/healthy.bin", healthy)
            var rest = try await answer.value[...]
            for (start, end) in ranges {
                let response = try TestHTTPClient.parse(Array(rest))
                #expect(response.status == 206)
                #expect(response.header("Content-Range") == "bytes \(start)-\(end)/300000")
                expectBytes(response.body, bytes[start...end])
                guard let headEnd = TestHTTPClient.find([13, 10, 13, 10], in: Array(rest)) else { break }
                rest = rest.dropFirst(headEnd + 4 + response.body.count)
            }
            #expect(rest.isEmpty)
        }
    }

    /// A request whose body never ends (a chunk size of FFFFFFFFFFFFFFED), pipelined after a good one: the good one
    /// is answered, the other is refused from its head, and the connection closes instead of waiting for the body.
    @Test func bodyPipelinedAfterAGoodRequestIsRefusedAndTheConnectionCloses() async throws {
        // The refusal comes after the first answer, a miss: no idle deadline may cut in on a loaded machine.
        try await Self.withEngine(idleTimeout: 120) { harness, healthy in
            let bytes = harness.origin.add("/g.bin", length: 100_000, seed: 91)
            let endless =
                "GET \(harness.target("/g.bin")) HTTP/1.1\r\nHost: cache\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFED\r\nab"
            let burst = Self.request(harness, "/g.bin", range: "bytes=0-999", close: false) + Array(endless.utf8)
            let answer = Task { try await TestHTTPClient.raw(port: harness.port, burst) }
            try await harness.expectHealthy("/healthy.bin", healthy)
            let responses = try TestHTTPClient.parseAll(try await answer.value)
            #expect(responses.map(\.status) == [206, 400])
            if let first = responses.first { expectBytes(first.body, bytes[0...999]) }
        }
    }

    @Test func hugeHeadersAndRequestLineAreRefusedWhileOthersAreServed() async throws {
        try await Self.withEngine { harness, healthy in
            async let headers = TestHTTPClient.get(
                port: harness.port,
                harness.target("/healthy.bin"),
                headers: [("X-Pad", String(repeating: "h", count: 40_000))]
            )
            async let line = TestHTTPClient.get(
                port: harness.port,
                harness.target("/healthy.bin", query: "pad=" + String(repeating: "l", count: 9_000))
            )
            try await harness.expectHealthy("/healthy.bin", healthy)
            #expect(try await headers.status == 431)
            #expect(try await line.status == 414)
        }
    }
}
