import CacheProtocol
import CacheNodeTestSupport
import Foundation
import Logging
import NIOCore
import Testing

@testable import CacheEngine

struct BlockStoreTests {
    static let blockSize = 4096

    static func meta(_ key: String, length: Int64 = 10_000, etag: String = "\"a\"") -> ObjectMetadata {
        ObjectMetadata(
            key: key,
            etag: etag,
            lastModified: nil,
            contentType: "application/octet-stream",
            length: length,
            blockSize: blockSize
        )
    }

    static func chunk(_ meta: ObjectMetadata, _ index: Int) -> [ByteBuffer] {
        [ByteBuffer(bytes: [UInt8](repeating: UInt8(index), count: meta.blockLength(index)))]
    }

    static func open(
        _ directory: TestCacheDirectory,
        capacity: Int64 = 1 << 30,
        drives: Int = 1,
        journalSlack: Int = 100_000
    ) throws -> BlockStore {
        try BlockStore(
            drives: (0..<drives).map { BlockStore.Drive(path: directory.drive + "\($0)", capacityBytes: capacity) },
            blockSize: blockSize,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            journalSlack: journalSlack
        )
    }

    @Test(arguments: [
        JournalRecord.object(ObjectID(key: "k"), meta("host/a?b=1")),
        .block(ObjectID(key: "k"), 7),
        .evicted(ObjectID(key: "k"), 0),
        .dropped(ObjectID(key: "k")),
    ])
    func journalRecordsRoundTrip(record: JournalRecord) {
        #expect(JournalRecord(line: Substring(record.line.dropLast())) == record)
    }

    @Test func tornLastLineIsIgnoredAndOnlyWholeBlocksCount() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let meta = Self.meta("h/torn")
        do {
            let store = try Self.open(directory)
            #expect(store.store(meta, block: 0, chunks: Self.chunk(meta, 0)))
            #expect(store.store(meta, block: 1, chunks: Self.chunk(meta, 1)))
        }
        // A record cut by kill -9, and a block file truncated behind the index's back.
        let journal = directory.drive + "0/cachenode/journal"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data("B\t\(ObjectID(key: "h/torn"))\t2".utf8))
        try handle.close()
        let blockFile = BlockStore.blockPath(directory.drive + "0/cachenode", ObjectID(key: "h/torn"), 1)
        truncate(blockFile, 100)
        let store = try Self.open(directory)
        #expect(store.storedBlocks(key: "h/torn") == [0, 1])
        let whole = try #require(store.open(key: "h/torn", block: 0))
        #expect(whole.length == 4096)
        try whole.handle.close()
        #expect(store.open(key: "h/torn", block: 1) == nil)
        #expect(store.storedBlocks(key: "h/torn") == [0])
        #expect(store.open(key: "h/torn", block: 2) == nil)
    }

    @Test func leastRecentlyUsedBlocksGoFirstAndOpenReadersKeepTheirBytes() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        // Four blocks and the index's own lines.
        let store = try Self.open(directory, capacity: 4096 * 4 + 1024)
        let a = Self.meta("h/a", length: 8192)
        let b = Self.meta("h/b", length: 8192)
        let c = Self.meta("h/c", length: 8192)
        store.store(a, block: 0, chunks: Self.chunk(a, 0))
        store.store(a, block: 1, chunks: Self.chunk(a, 1))
        store.store(b, block: 0, chunks: Self.chunk(b, 0))
        store.store(b, block: 1, chunks: Self.chunk(b, 1))
        // Reading a's first block makes it recent; b's first block is now the oldest.
        let reader = try #require(store.open(key: "h/a", block: 0))
        try reader.handle.close()
        let held = try #require(store.open(key: "h/a", block: 1))
        store.store(c, block: 0, chunks: Self.chunk(c, 0))
        store.store(c, block: 1, chunks: Self.chunk(c, 1))
        #expect(store.storedBlocks(key: "h/b").isEmpty)
        #expect(store.storedBlocks(key: "h/a") == [0, 1])
        #expect(store.driveStatus()[0].usedBytes <= 4096 * 4)
        // The evicted block's reader still reads its bytes from the open descriptor.
        store.store(Self.meta("h/d", length: 4096), block: 0, chunks: Self.chunk(Self.meta("h/d", length: 4096), 0))
        store.store(Self.meta("h/e", length: 4096), block: 0, chunks: Self.chunk(Self.meta("h/e", length: 4096), 0))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try held.handle.withUnsafeFileDescriptor { fd in pread(fd, &buffer, 4096, 0) }
        #expect(count == 4096)
        #expect(buffer.allSatisfy { $0 == 1 })
        try held.handle.close()
    }

    /// The journal and format file live on the drive too: blocks and index together stay within the drive's size.
    @Test func theIndexCountsAgainstTheDriveSize() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let capacity: Int64 = 4096 * 20
        let store = try Self.open(directory, capacity: capacity)
        for index in 0..<200 {
            let meta = Self.meta("h/small-\(index)", length: 4096)
            store.store(meta, block: 0, chunks: Self.chunk(meta, 0))
            #expect(DiskUsage.bytes(under: directory.drive + "0") <= capacity, "after \(index + 1) objects")
        }
        #expect(store.objectCount > 10)
    }

    /// Churn (stores and evictions) makes the journal mostly history; it is rewritten while the store runs, with
    /// stores going on from several threads, and replays to exactly the index the running store had.
    @Test func theJournalIsCompactedWhileRunningAndReplaysToTheSameIndex() async throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let capacity: Int64 = 4096 * 64
        let journal = directory.drive + "0/cachenode/journal"
        var largest: Int64 = 0
        let keys = (0..<400).map { "h/churn-\($0)" }
        var before: [String: [Int]] = [:]
        do {
            let store = try Self.open(directory, capacity: capacity, journalSlack: 200)
            for round in 0..<4 {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            for (position, key) in keys.enumerated() where position % 8 == worker {
                                let meta = Self.meta(key, length: 4096 * 3)
                                store.store(
                                    meta,
                                    block: (position + round) % 3,
                                    chunks: Self.chunk(meta, (position + round) % 3)
                                )
                            }
                        }
                    }
                }
                var info = stat()
                #expect(stat(journal, &info) == 0)
                largest = max(largest, Int64(info.st_size))
            }
            before = Dictionary(uniqueKeysWithValues: keys.map { ($0, store.storedBlocks(key: $0)) })
            store.closeJournals()
        }
        let lines = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n")
        // 4 rounds of 400 stores, each with its eviction: without compaction the journal would hold thousands of lines.
        #expect(lines.count < 1500, "\(lines.count) journal lines")
        #expect(largest < 60_000, "the journal reached \(largest) bytes")
        #expect(!FileManager.default.fileExists(atPath: journal + ".compacting"))
        let reopened = try Self.open(directory, capacity: capacity)
        for key in keys {
            #expect(reopened.storedBlocks(key: key) == before[key], "\(key)")
        }
        #expect(before.values.contains { !$0.isEmpty })
    }

    /// On a drive of thousands of blocks the oldest are found from a sample of their use: still exactly the least
    /// recently used go, the ones read since stay.
    @Test func aLargeDriveEvictsExactlyTheLeastRecentlyUsed() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let count = 6000
        let metas = (0..<count).map { Self.meta("h/lru-\($0)", length: 4096) }
        do {
            let filling = try Self.open(directory)
            for meta in metas { #expect(filling.store(meta, block: 0, chunks: Self.chunk(meta, 0))) }
            filling.closeJournals()
        }
        // Opened again on a drive just large enough for what it holds.
        let journal =
            try FileManager.default.attributesOfItem(atPath: directory.drive + "0/cachenode/journal")[.size] as? Int
            ?? 0
        let store = try Self.open(directory, capacity: Int64(count) * 4096 + Int64(journal) + 10_000)
        #expect(store.objectCount == count)
        // Every third of the first 600 is read again: the most recent now.
        for index in stride(from: 0, to: 600, by: 3) {
            let opened = try #require(store.open(key: metas[index].key, block: 0))
            try opened.handle.close()
        }
        // More objects than fit: a batch is evicted.
        for index in 0..<50 {
            let meta = Self.meta("h/new-\(index)", length: 4096)
            store.store(meta, block: 0, chunks: Self.chunk(meta, 0))
        }
        let kept = Set(metas.indices.filter { !store.storedBlocks(key: metas[$0].key).isEmpty })
        let gone = Set(metas.indices).subtracting(kept)
        #expect(gone.count > 50, "no batch was evicted")
        // What went is exactly the oldest: none of the re-read ones, and no gap before the last one gone.
        #expect(gone.allSatisfy { $0 % 3 != 0 || $0 >= 600 })
        let untouched = metas.indices.filter { $0 % 3 != 0 || $0 >= 600 }
        #expect(Array(untouched.prefix(gone.count)) == gone.sorted())
    }

    @Test func changedContentDropsTheOldBlocks() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory)
        let old = Self.meta("h/x", etag: "\"1\"")
        store.store(old, block: 0, chunks: Self.chunk(old, 0))
        store.store(old, block: 1, chunks: Self.chunk(old, 1))
        let new = Self.meta("h/x", etag: "\"2\"")
        store.store(new, block: 2, chunks: Self.chunk(new, 2))
        #expect(store.metadata(for: "h/x")?.etag == "\"2\"")
        #expect(store.storedBlocks(key: "h/x") == [2])
    }

    @Test func drivesShareObjectsBySize() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let store = try Self.open(directory, drives: 2)
        for index in 0..<200 {
            let meta = Self.meta("h/\(index)", length: 100)
            store.store(meta, block: 0, chunks: Self.chunk(meta, 0))
        }
        let objects = store.driveStatus().map(\.objects)
        #expect(objects.reduce(0, +) == 200)
        #expect(objects.allSatisfy { $0 > 50 })
    }

    /// 100,000 objects come back after a restart (the benchmark of start-up time is `Benchmarks/run`'s job, not a test's).
    @Test func manyObjectsSurviveRestart() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        let root = directory.drive + "0/cachenode"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "cachenode-store 1\nblock_size \(Self.blockSize)\n".write(
            toFile: root + "/format",
            atomically: true,
            encoding: .utf8
        )
        var journal = ""
        for index in 0..<100_000 {
            let meta = Self.meta(
                "au.download.windowsupdate.com/filestreamingservice/files/\(index)?P1=1",
                length: 1_000_000
            )
            let id = ObjectID(key: meta.key)
            journal += JournalRecord.object(id, meta).line + JournalRecord.block(id, 0).line
        }
        try journal.write(toFile: root + "/journal", atomically: true, encoding: .utf8)
        let started = Date()
        let store = try Self.open(directory)
        let elapsed = Date().timeIntervalSince(started)
        print("loaded 100,000 objects in \(String(format: "%.2f", elapsed)) s")
        #expect(store.objectCount == 100_000)
        #expect(store.driveStatus()[0].usedBytes == 100_000 * 4096)
    }
}
