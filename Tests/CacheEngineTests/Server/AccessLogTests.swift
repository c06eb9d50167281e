import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

/// The access log rotates by size so that a busy node never fills its state drive with it.
struct AccessLogTests {
    static func entry(_ number: Int) -> AccessLog.Entry {
        AccessLog.Entry(
            client: "10.0.0.\(number % 250)",
            method: "GET",
            target: "/piece/\(number)?cacheHostOrigin=au.download.windowsupdate.com",
            range: "bytes=0-1048575",
            status: 206,
            bytes: 1_048_576,
            outcome: .hit,
            milliseconds: 1.5,
            originStatus: nil
        )
    }

    @Test func rotatesBySizeAndKeepsTheNewestFiles() throws {
        let directory = TestCacheDirectory(prefix: "cachenode-accesslog")
        defer { directory.remove() }
        let path = directory.root + "/logs/access.log"
        let log = try AccessLog(path: path, rotation: .init(maxBytes: 2_000, keep: 2))
        let lineLength = Self.entry(0).line.utf8.count
        for number in 0..<200 { log.write(Self.entry(number)) }

        let files = try FileManager.default.contentsOfDirectory(atPath: directory.root + "/logs").sorted()
        #expect(files == ["access.log", "access.log.1", "access.log.2"])
        for file in files {
            let size = try #require(
                FileManager.default.attributesOfItem(atPath: directory.root + "/logs/" + file)[.size] as? Int
            )
            #expect(size <= 2_000 + lineLength, "\(file) has \(size) bytes")
        }
        // The newest request is in access.log, the ones just before it in .1 and .2, in order, none lost between.
        let lines = try ["access.log.2", "access.log.1", "access.log"].flatMap { file in
            try String(contentsOfFile: directory.root + "/logs/" + file, encoding: .utf8).split(separator: "\n")
        }
        let numbers = lines.compactMap { line in
            line.split(separator: "/piece/").last?.split(separator: "?").first.flatMap { Int($0) }
        }
        #expect(numbers.last == 199)
        #expect(numbers == Array((200 - numbers.count)..<200))
    }

    @Test func aLogThatExistsIsAppendedToAndCountsTowardsRotation() throws {
        let directory = TestCacheDirectory(prefix: "cachenode-accesslog")
        defer { directory.remove() }
        let path = directory.root + "/access.log"
        try String(repeating: "x", count: 5_000).write(toFile: path, atomically: true, encoding: .utf8)
        let log = try AccessLog(path: path, rotation: .init(maxBytes: 4_000, keep: 1))
        log.write(Self.entry(1))
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8).hasPrefix("xxxx"))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("/piece/1?"))
    }
}
