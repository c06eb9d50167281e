import CacheNodeCore
import CacheNodeTestSupport
import Dispatch
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

/// Cold runs of blocks fetched over several origin connections at once, from an origin that paces every response
/// (`.slow`: 64 KiB, then a pause), as one CDN connection over a WAN does; and read-ahead for sequential readers.
@Suite
struct ParallelFillTests {
    static let block = 64 * 1024

    /// The byte ranges the origin was asked for, as (first, last) pairs.
    static func ranges(_ origin: TestOrigin, _ path: String) -> [(Int, Int)] {
        origin.ranges(path).compactMap { value -> (Int, Int)? in
            guard let value, value.hasPrefix("bytes=") else { return nil }
            let bounds = value.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? (bounds[0], bounds[1]) : nil
        }
    }

    /// A part cut by the origin read timeout is rightly asked for again, which these tests count. With the whole suite
    /// at once on a small machine (every block fsynced, the drive's journal shared) a fill can wait for its stores
    /// longer than the tests' 10 s, leaving its answer unread: the timeout here is one no test reaches.
    static func patient(_ configuration: inout NodeConfiguration) {
        configuration.engine.originReadTimeoutSeconds = 300
    }

    @Test func aColdObjectIsFetchedOverSeveralConnectionsAtOnceEachByteOnce() async throws {
        try await EngineHarness.with(configure: Self.patient) { harness in
            let length = Self.block * 32
            let bytes = harness.origin.add("/wan.bin", length: length, seed: 61)
            harness.origin.setFault(.slow(10), for: "/wan.bin")
            let response = try await harness.get("/wan.bin")
            #expect(response.status == 200)
            #expect(response.complete)
            expectBytes(response.body, bytes)
            await harness.engine.settle()

            let connections = harness.engine.cache.fillConnections
            #expect(connections == 4, "the default")
            #expect(harness.origin.mostPacedAtOnce >= 2, "the run was fetched over one connection at a time")
            #expect(harness.origin.mostPacedAtOnce <= connections)
            try await Self.expectEachByteFetchedOnce(harness, "/wan.bin", bytes)
        }
    }

    /// The probe and the parts asked the origin for disjoint ranges that cover the object once, and every block was
    /// stored whole: the next read is a hit.
    static func expectEachByteFetchedOnce(_ harness: EngineHarness, _ path: String, _ bytes: [UInt8]) async throws {
        let ranges = Self.ranges(harness.origin, path).sorted { $0.0 < $1.0 }
        #expect(ranges.count <= 1 + harness.engine.cache.fillConnections)
        var next = 0
        for (first, last) in ranges {
            #expect(first == next, "\(ranges)")
            next = last + 1
        }
        #expect(next == bytes.count)
        #expect(harness.origin.bytesSent == bytes.count)
        let requests = harness.origin.requests(path)
        expectBytes(try await harness.get(path).body, bytes)
        #expect(harness.origin.requests(path) == requests)
    }

    /// Blocks are stored on the engine's own disk threads: blocking work elsewhere in the process (here every thread
    /// of NIO's shared pool, held until the object is served) does not stall the fills, whose origin answers would
    /// otherwise wait unread until the origin read timeout cut them and their blocks were fetched again.
    @Test func blockingWorkElsewhereDoesNotHoldTheFills() async throws {
        // Held fills would be cut by the read timeout well before the pool is let go (at the latest after 90 s).
        try await EngineHarness.with(configure: { $0.engine.originReadTimeoutSeconds = 30 }) { harness in
            let length = Self.block * 32
            let bytes = harness.origin.add("/held.bin", length: length, seed: 67)
            harness.origin.setFault(.slow(10), for: "/held.bin")
            let shared = NIOThreadPool.singleton
            let release = DispatchSemaphore(value: 0)
            let held = (0..<shared.numberOfThreads).map { _ in
                Task { try await shared.runIfActive { _ = release.wait(timeout: .now() + 90) } }
            }
            let response = try await harness.get("/held.bin")
            await harness.engine.settle()
            for _ in held { release.signal() }
            for task in held { try await task.value }
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            try await Self.expectEachByteFetchedOnce(harness, "/held.bin", bytes)
        }
    }

    /// A client that stops reading does not hold the fill back, nor make the engine keep the object in memory: the
    /// parts go on at the origin's pace and each block is stored and let go; the client reads on later from disk.
    @Test func aStalledClientDoesNotHoldTheFillNorItsBytes() async throws {
        // A part cut by the origin read timeout is asked for again only by a reader, and this client reads no more.
        try await EngineHarness.with(configure: {
            Self.patient(&$0)
            $0.engine.idleTimeoutSeconds = 300
        }) { harness in
            let length = max(KernelBuffers.stallingLength, Self.block * 64)
            let bytes = harness.origin.add("/stall.bin", length: length, seed: 66)
            harness.origin.setFault(.slow(1), for: "/stall.bin")
            let request = Array(
                "GET \(harness.target("/stall.bin")) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n".utf8
            )
            let (fd, start) = try await TestHTTPClient.blocking { () -> (Int32, [UInt8]) in
                let fd = try TestHTTPClient.connect(
                    port: harness.port,
                    receiveBuffer: KernelBuffers.clientReceiveBuffer
                )
                try TestHTTPClient.send(fd, request)
                return (fd, ClientFaultTests.receive(fd, upTo: 1000))
            }
            defer { close(fd) }
            // The client reads nothing more; every fill ends anyway, each block stored.
            let key = "\(harness.origin.authority)/stall.bin"
            let blocks = (length + Self.block - 1) / Self.block
            #expect(try await harness.eventually { harness.engine.store.storedBlocks(key: key).count == blocks })
            await harness.engine.settle()
            #expect(harness.origin.bytesSent == length)
            let response = try await TestHTTPClient.blocking {
                try TestHTTPClient.parse(start + TestHTTPClient.receiveAll(fd))
            }
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            // Read from disk, but fetched for this request: a miss whose bytes all came from the origin.
            let status = await harness.engine.status()
            #expect(status.bytesFromCache == 0)
            #expect(status.bytesFromOrigin == Int64(length))
            #expect(status.hitRatio == 0)
        }
    }

    /// A partial request counts from cache only the blocks stored when it arrived; the others were fetched for it.
    @Test func aPartialRequestCountsOnlyItsStoredBlocksAsFromCache() async throws {
        try await EngineHarness.with(configure: Self.patient) { harness in
            let bytes = harness.origin.add("/part2.bin", length: Self.block * 2, seed: 68)
            let first = try await harness.get("/part2.bin", headers: [("Range", "bytes=0-\(Self.block - 1)")])
            #expect(first.status == 206)
            await harness.engine.settle()
            let whole = try await harness.get("/part2.bin")
            expectBytes(whole.body, bytes)
            let status = await harness.engine.status()
            #expect(status.partials == 1)
            #expect(status.bytesFromCache == Int64(Self.block), "block 0 was stored; block 1 came from the origin")
            #expect(status.bytesFromOrigin == Int64(2 * Self.block))
        }
    }

    @Test func oneFillConnectionFetchesTheRunWithOneRequest() async throws {
        try await EngineHarness.with(configure: {
            Self.patient(&$0)
            $0.engine.fillConnections = 1
        }) { harness in
            let bytes = harness.origin.add("/one.bin", length: Self.block * 12, seed: 62)
            harness.origin.setFault(.slow(2), for: "/one.bin")
            expectBytes(try await harness.get("/one.bin").body, bytes)
            await harness.engine.settle()
            #expect(harness.origin.requests("/one.bin") == 2, "the probe and one run")
            #expect(harness.origin.mostPacedAtOnce == 1)
        }
    }

    /// The connection of the part the client is reading breaks mid-way: the engine asks for that part again from
    /// the block the client is in, and the client gets every byte; what is stored is right.
    @Test func aPartThatFailsOnceIsAskedForAgain() async throws {
        try await EngineHarness.with(configure: Self.patient) { harness in
            let length = Self.block * 32
            let bytes = harness.origin.add("/part.bin", length: length, seed: 63)
            harness.origin.setFault(.slow(5), for: "/part.bin")
            // The first part after the probe: the client reads it as it arrives.
            let start = Self.block
            harness.origin.setFault(.resetAfter(1000), for: "/part.bin", rangeStartingAt: start)
            let response = try await harness.get("/part.bin")
            #expect(
                Self.ranges(harness.origin, "/part.bin").filter { $0.0 == start }.count == 2,
                "the part was not asked for again"
            )
            #expect(response.status == 200)
            let complete = response.complete
            #expect(complete)
            expectBytes(response.body, bytes)
            await harness.engine.settle()
            // The failed part's first 1000 bytes are the only ones asked for twice.
            #expect(harness.origin.bytesSent == length + 1000)
            harness.origin.setFault(.hang, for: "/part.bin")
            expectBytes(try await harness.get("/part.bin").body, bytes, "from the cache")
        }
    }

    /// A part that fails again when asked once more: the response is cut (never wrong), nothing wrong is stored, and
    /// once the origin recovers the object is exact.
    @Test func aPartThatKeepsFailingCutsTheResponseAndStoresNothingWrong() async throws {
        try await EngineHarness.with(configure: Self.patient) { harness in
            let length = Self.block * 32
            let bytes = harness.origin.add("/cut.bin", length: length, seed: 64)
            harness.origin.setFault(.slow(5), for: "/cut.bin")
            let start = Self.block
            harness.origin.setFault(.resetAfter(1000), for: "/cut.bin", rangeStartingAt: start, times: 100)
            let response = try await harness.get("/cut.bin")
            // Asked once more when the client meets the failure; once more again when the part failed before the client
            // reached it (the block is fetched afresh then, and that fetch's failure is the one the client meets).
            #expect((2...3).contains(Self.ranges(harness.origin, "/cut.bin").filter { $0.0 == start }.count))
            let complete = response.complete
            #expect(!complete)
            expectPrefix(response.body, of: bytes)
            await harness.engine.settle()
            #expect(!harness.engine.store.storedBlocks(key: "\(harness.origin.authority)/cut.bin").contains(1))
            harness.origin.setFault(nil, for: "/cut.bin")
            expectBytes(try await harness.get("/cut.bin").body, bytes)
        }
    }

    /// A client that asks for the pieces of an object in order gets the next ones started before it asks; one that
    /// jumps around gets nothing it did not ask for.
    @Test func aSequentialReaderGetsTheNextBlocksStartedBeforeItAsks() async throws {
        try await EngineHarness.with(configure: Self.patient) { harness in
            let bytes = harness.origin.add("/seq.bin", length: Self.block * 16, seed: 65)
            func piece(_ index: Int) async throws {
                let range = index * Self.block...(index + 1) * Self.block - 1
                let response = try await harness.get(
                    "/seq.bin",
                    headers: [("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")]
                )
                #expect(response.status == 206)
                expectBytes(response.body, bytes[range], "piece \(index)")
            }
            try await piece(0)
            try await piece(1)
            await harness.engine.settle()
            #expect(
                Self.ranges(harness.origin, "/seq.bin").contains { $0.0 == 2 * Self.block },
                "piece 2 was not read ahead"
            )
            let requests = harness.origin.requests("/seq.bin")
            try await piece(2)
            await harness.engine.settle()
            #expect(
                harness.origin.requests("/seq.bin") == requests + 1,
                "piece 2 was not there, or piece 3 was not read ahead"
            )

            try await piece(9)
            try await piece(5)
            await harness.engine.settle()
            let asked = Set(Self.ranges(harness.origin, "/seq.bin").map { $0.0 / Self.block })
            #expect(
                !asked.contains(10) && !asked.contains(6),
                "a reader out of order got read-ahead: \(asked.sorted())"
            )
        }
    }
}
