import CacheProtocol
import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

struct ServingTests {
    @Test func everyByteMatchesTheOriginForRandomRangesColdAndWarm() async throws {
        try await EngineHarness.with { harness in
            let length = 1_000_003
            let bytes = harness.origin.add("/files/object.bin", length: length, seed: 7)
            var generator = SeededGenerator(state: 42)
            for pass in ["cold", "warm"] {
                for _ in 0..<25 {
                    let start = Int.random(in: 0..<length, using: &generator)
                    let end = min(length - 1, start + Int.random(in: 0..<300_000, using: &generator))
                    let response = try await harness.get(
                        "/files/object.bin",
                        headers: [("Range", "bytes=\(start)-\(end)")]
                    )
                    #expect(response.status == 206, "\(pass) \(start)-\(end)")
                    #expect(response.header("Content-Range") == "bytes \(start)-\(end)/\(length)")
                    expectBytes(response.body, bytes[start...end], "\(pass) \(start)-\(end)")
                }
            }
            let whole = try await harness.get("/files/object.bin")
            #expect(whole.status == 200)
            expectBytes(whole.body, bytes)
            let suffix = try await harness.get("/files/object.bin", headers: [("Range", "bytes=-1000")])
            expectBytes(suffix.body, bytes[(length - 1000)...])
            // Every block was fetched from the origin once, whatever the ranges asked.
            #expect(harness.origin.bytesSent == length)
        }
    }

    @Test func coldSuffixAndOpenRanges() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/a.bin", length: 200_000, seed: 3)
            let suffix = try await harness.get("/a.bin", headers: [("Range", "bytes=-10")])
            #expect(suffix.status == 206)
            expectBytes(suffix.body, bytes[199_990...])
            let open = try await harness.get("/a.bin", headers: [("Range", "bytes=150000-")])
            expectBytes(open.body, bytes[150_000...])
            let unsatisfiable = try await harness.get("/a.bin", headers: [("Range", "bytes=300000-")])
            #expect(unsatisfiable.status == 416)
            #expect(unsatisfiable.header("Content-Range") == "bytes */200000")
            let malformed = try await harness.get("/a.bin", headers: [("Range", "bytes=9-1")])
            #expect(malformed.status == 200)
            expectBytes(malformed.body, bytes)
            let multi = try await harness.get("/a.bin", headers: [("Range", "bytes=0-9,100-109")])
            #expect(multi.status == 200)
            expectBytes(multi.body, bytes)
            let head = try await harness.get("/a.bin", method: "HEAD")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "200000")
            #expect(head.header("ETag") == "\"3-200000\"")
        }
    }

    @Test func concurrentColdClientsCauseOneOriginFetchPerBlock() async throws {
        try await EngineHarness.with { harness in
            let length = 640 * 1024 + 17
            let bytes = harness.origin.add("/cold.bin", length: length, seed: 9)
            harness.origin.setFault(.delay(200), for: "/cold.bin")
            let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<20 { group.addTask { try await harness.get("/cold.bin").body } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(bodies.count == 20)
            #expect(bodies.allSatisfy { $0 == bytes })
            #expect(harness.origin.bytesSent == length)
            // Each origin request asked for a distinct run of blocks.
            let ranges = harness.origin.ranges("/cold.bin").compactMap { $0 }
            let starts = ranges.map { $0.dropFirst("bytes=".count).split(separator: "-")[0] }
            #expect(Set(starts).count == ranges.count)
        }
    }

    @Test func sameBlockRangesCollapse() async throws {
        try await EngineHarness.with(blockSize: 1024 * 1024) { harness in
            let bytes = harness.origin.add("/piece.bin", length: 3 * 1024 * 1024, seed: 5)
            harness.origin.setFault(.delay(100), for: "/piece.bin")
            let results = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<30 {
                    group.addTask { try await harness.get("/piece.bin", headers: [("Range", "bytes=1048576-2097151")]) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for response in results {
                #expect(response.status == 206)
                expectBytes(response.body, bytes[1_048_576...2_097_151])
            }
            #expect(harness.origin.requests("/piece.bin") == 1)
            #expect(harness.origin.bytesSent == 1024 * 1024)
        }
    }

    @Test func restartKeepsContent() async throws {
        try await EngineHarness.withDirectory { directory in
            try await EngineHarness.withOrigin { origin in
                let bytes = origin.add("/keep.bin", length: 300_000, seed: 11)
                try await EngineHarness.with(origin: origin, directory: directory) { first in
                    expectBytes(try await first.get("/keep.bin").body, bytes)
                    try await first.stop()
                    // The probe and the run's parts, each byte asked for once.
                    #expect(origin.requests("/keep.bin") <= 1 + first.engine.cache.fillConnections)
                    #expect(origin.bytesSent == 300_000)
                }
                let requests = origin.requests("/keep.bin")
                try await EngineHarness.with(origin: origin, directory: directory) { second in
                    let again = try await second.get("/keep.bin", headers: [("Range", "bytes=1000-250000")])
                    expectBytes(again.body, bytes[1000...250_000])
                    #expect(origin.requests("/keep.bin") == requests, "the restarted engine asked the origin again")
                    #expect(await second.engine.status().objects == 1)
                }
            }
        }
    }

    @Test func changedBlockSizeDropsTheOldContent() async throws {
        try await EngineHarness.withDirectory { directory in
            try await EngineHarness.withOrigin { origin in
                let bytes = origin.add("/b.bin", length: 200_000, seed: 13)
                try await EngineHarness.with(origin: origin, directory: directory, blockSize: 64 * 1024) { first in
                    expectBytes(try await first.get("/b.bin").body, bytes)
                }
                try await EngineHarness.with(origin: origin, directory: directory, blockSize: 128 * 1024) { second in
                    #expect(await second.engine.status().objects == 0)
                    expectBytes(try await second.get("/b.bin").body, bytes)
                    #expect(await second.engine.status().blockSizeBytes == 128 * 1024)
                }
            }
        }
    }

    @Test func evictionKeepsTheDriveWithinItsSize() async throws {
        let blockSize = 64 * 1024
        try await EngineHarness.with(blockSize: blockSize, driveBytes: Int64(blockSize * 10)) { harness in
            var objects: [[UInt8]] = []
            for index in 0..<6 {
                objects.append(harness.origin.add("/e\(index).bin", length: blockSize * 3, seed: UInt8(20 + index)))
                expectBytes(try await harness.get("/e\(index).bin").body, objects[index])
                await harness.engine.settle()
                let drive = await harness.engine.status().drives[0]
                #expect(drive.usedBytes <= drive.capacityBytes)
            }
            await harness.engine.settle()
            // The most recent object is whole; the oldest was evicted and is fetched again, correctly.
            #expect(harness.engine.store.storedBlocks(key: "\(harness.origin.authority)/e5.bin") == [0, 1, 2])
            #expect(harness.engine.store.storedBlocks(key: "\(harness.origin.authority)/e0.bin").isEmpty)
            expectBytes(try await harness.get("/e0.bin").body, objects[0])
            let onDisk = try FileManager.default.subpathsOfDirectory(
                atPath: harness.directory.drive + "/cachenode/blocks"
            )
            .map {
                try FileManager.default.attributesOfItem(atPath: harness.directory.drive + "/cachenode/blocks/" + $0)
            }
            .filter { ($0[.type] as? FileAttributeType) == .typeRegular }
            .reduce(0) { $0 + (($1[.size] as? Int) ?? 0) }
            #expect(onDisk <= blockSize * 10)
        }
    }

    @Test func conditionalRequests() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/c.bin", length: 100_000, seed: 15, etag: "\"v1\"")
            _ = try await harness.get("/c.bin")
            #expect(try await harness.get("/c.bin", headers: [("If-None-Match", "\"v1\"")]).status == 304)
            #expect(
                try await harness.get("/c.bin", headers: [("If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT")])
                    .status == 304
            )
            let stale = try await harness.get("/c.bin", headers: [("Range", "bytes=0-9"), ("If-Range", "\"v0\"")])
            #expect(stale.status == 200)
            expectBytes(stale.body, bytes)
            let fresh = try await harness.get("/c.bin", headers: [("Range", "bytes=0-9"), ("If-Range", "\"v1\"")])
            #expect(fresh.status == 206)
            expectBytes(fresh.body, bytes[0...9])
        }
    }

    @Test func validationRequestAndHostHeaderForm() async throws {
        try await EngineHarness.with { harness in
            let gif = harness.origin.add("/mscomtest/wuidt.gif", length: 969_710, seed: 17, contentType: "image/gif")
            let response = try await harness.get("/mscomtest/wuidt.gif")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "image/gif")
            expectBytes(response.body, gif)
            let byHost = try await TestHTTPClient.raw(
                port: harness.port,
                Array(
                    "GET /mscomtest/wuidt.gif HTTP/1.1\r\nHost: \(harness.origin.authority)\r\nConnection: close\r\n\r\n"
                        .utf8
                )
            )
            let parsed = try TestHTTPClient.parse(byHost)
            #expect(parsed.status == 200)
            expectBytes(parsed.body, gif)
            #expect(harness.origin.hostHeaders.allSatisfy { $0 == harness.origin.authority })
        }
    }

    @Test func keepAliveMethodsAndLimits() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/k.bin", length: 1000, seed: 19)
            let target = harness.target("/k.bin")
            let twice =
                "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\nGET \(target) HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n"
            let raw = try await TestHTTPClient.raw(port: harness.port, Array(twice.utf8))
            let text = String(decoding: raw, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200 OK"))
            #expect(text.contains("HTTP/1.1 206 Partial Content"))
            #expect(raw.suffix(10) == bytes[0...9])
            #expect(try await harness.get("/k.bin", method: "POST").status == 405)
            #expect(try await harness.get("/k.bin", method: "DELETE").header("Allow") == "GET, HEAD")
            let long = try await TestHTTPClient.get(
                port: harness.port,
                harness.target("/k.bin", query: "p=" + String(repeating: "a", count: 9000))
            )
            #expect(long.status == 414)
            let big = try await harness.get(
                "/k.bin",
                headers: (0..<40).map { ("X-Filler-\($0)", String(repeating: "b", count: 1000)) }
            )
            #expect(big.status == 431)
        }
    }

    @Test func adminListener() async throws {
        try await EngineHarness.with { harness in
            harness.origin.add("/s.bin", length: 5000, seed: 21)
            _ = try await harness.get("/s.bin")
            await harness.engine.settle()
            _ = try await harness.get("/s.bin")
            #expect(try await TestHTTPClient.get(port: harness.adminPort, "/health").status == 200)
            let status = try await TestHTTPClient.get(port: harness.adminPort, "/status")
            let decoded = try EngineStatus.decoder.decode(EngineStatus.self, from: Data(status.body))
            #expect(decoded.requests == 2)
            #expect(decoded.hits == 1)
            #expect(decoded.misses == 1)
            #expect(decoded.bytesFromOrigin == 5000)
            #expect(decoded.bytesFromCache == 5000)
            #expect(decoded.hitRatio == 0.5)
            #expect(decoded.objects == 1)
            #expect(decoded.drives.first?.usedBytes == 5000)
            #expect(decoded.listen == "127.0.0.1:\(harness.port)")
            let log = try String(contentsOfFile: harness.directory.accessLog, encoding: .utf8)
            #expect(log.split(separator: "\n").count == 2)
            #expect(log.contains("MISS") && log.contains("HIT") && log.contains("origin=206"))
        }
    }
}
