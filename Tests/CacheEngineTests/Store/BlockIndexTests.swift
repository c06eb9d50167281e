import Testing

@testable import CacheEngine

/// The store's index as a state machine: events in, actions out, no files. Each test plays one race the store meets
/// once its I/O runs outside the lock.
struct BlockIndexTests {
    static let blockSize = 4096

    static func meta(_ key: String, length: Int64 = 3 * 4096, etag: String = "\"a\"") -> ObjectMetadata {
        ObjectMetadata(key: key, etag: etag, lastModified: nil, contentType: nil, length: length, blockSize: blockSize)
    }

    static func index(capacity: Int64 = 1 << 30, drives: Int = 1, journalSlack: Int = 100_000) -> BlockIndex {
        let states = (0..<drives).map { number in
            var state = BlockIndex.DriveState(drive: BlockStore.Drive(path: "/d\(number)", capacityBytes: capacity))
            state.journalOpen = true
            return state
        }
        return BlockIndex(drives: states, journalSlack: journalSlack)
    }

    /// A fill from arrival to stored, as the store runs it; returns the reservation.
    @discardableResult
    static func fill(_ index: inout BlockIndex, _ meta: ObjectMetadata, _ block: Int) -> BlockIndex.Reservation? {
        guard case .write(let reservation, _) = index.fillArrived(meta, id: ObjectID(key: meta.key), block: block)
        else { return nil }
        guard case .keep = index.fillStored(reservation) else { return nil }
        return reservation
    }

    static func check(_ index: BlockIndex, _ key: String, _ block: Int) -> BlockIndex.BlockCheck? {
        guard case .check(let check) = index.lookup(id: ObjectID(key: key), key: key, block: block) else { return nil }
        return check
    }

    /// The journal lines the index has decided and not yet handed out.
    static func journal(_ index: inout BlockIndex, drive: Int = 0) -> [JournalRecord] {
        let text = index.takeJournal(drive: drive)?.text ?? ""
        return text.split(separator: "\n").compactMap { JournalRecord(line: $0) }
    }

    @Test func aFillIsJournaledAfterItsFileIsInPlaceAndItsObjectBeforeIt() throws {
        var index = Self.index()
        let meta = Self.meta("h/a")
        let id = ObjectID(key: meta.key)
        guard case .write(let reservation, let cleanup) = index.fillArrived(meta, id: id, block: 1) else {
            Issue.record("the fill was refused")
            return
        }
        #expect(cleanup.journals == [0])
        #expect(Self.journal(&index) == [.object(id, meta)])
        #expect(index.drives[0].usedBytes == 4096, "the block's room is taken while it is written")
        #expect(!index.contains(id: ObjectID(key: "h/a"), key: "h/a", block: 1), "a block being written is not served")
        guard case .keep(let stored, nil) = index.fillStored(reservation) else {
            Issue.record("the block was not kept")
            return
        }
        #expect(stored.journals == [0])
        #expect(Self.journal(&index) == [.block(id, 1)])
        #expect(index.contains(id: ObjectID(key: "h/a"), key: "h/a", block: 1))
        #expect(index.drives[0].blocks == 1)
    }

    /// Two fills of one block both write its file (same bytes); only the first to finish counts it.
    @Test func twoFillsOfOneBlockCountItOnce() throws {
        var index = Self.index()
        let meta = Self.meta("h/twice")
        let id = ObjectID(key: meta.key)
        guard case .write(let first, _) = index.fillArrived(meta, id: id, block: 0),
            case .write(let second, _) = index.fillArrived(meta, id: id, block: 0)
        else {
            Issue.record("a fill was refused")
            return
        }
        _ = Self.journal(&index)
        guard case .keep = index.fillStored(first), case .keep(let cleanup, _) = index.fillStored(second) else {
            Issue.record("a fill was not kept")
            return
        }
        #expect(cleanup.journals.isEmpty)
        #expect(Self.journal(&index) == [.block(id, 0)])
        #expect(index.drives[0].usedBytes == 4096)
        #expect(index.drives[0].blocks == 1)
        // Once stored, a third fill is not even written.
        guard case .refuse = index.fillArrived(meta, id: id, block: 0) else {
            Issue.record("a stored block was written again")
            return
        }
    }

    /// A reader opened the file before eviction removed it: it keeps its bytes, and the block stays evicted.
    @Test func aReaderThatOpenedAnEvictedBlockServesItWithoutBringingItBack() throws {
        var index = Self.index(capacity: 4096 * 3 + 256)
        let a = Self.meta("h/a", length: 8192)
        Self.fill(&index, a, 0)
        Self.fill(&index, a, 1)
        Self.fill(&index, Self.meta("h/b", length: 4096), 0)
        let read = try #require(Self.check(index, "h/a", 0))
        // A new block evicts the oldest (a's first) before the reader reports its file whole.
        let c = Self.meta("h/c", length: 100)
        guard case .write(_, let cleanup) = index.fillArrived(c, id: ObjectID(key: c.key), block: 0) else {
            Issue.record("the fill was refused")
            return
        }
        #expect(cleanup.removals == [BlockIndex.BlockRef(drive: 0, id: ObjectID(key: "h/a"), index: 0)])
        let checked1 = index.blockChecked(read, whole: true)
        #expect(checked1 == .serve)
        #expect(index.storedBlocks(id: ObjectID(key: "h/a"), key: "h/a") == [1])
    }

    /// Eviction removed the file before the reader opened it: a miss, and no second eviction line.
    @Test func aReaderThatFoundAnEvictedFileGoneForgetsNothingMore() throws {
        var index = Self.index(capacity: 4096 * 2 + 256)
        let a = Self.meta("h/a", length: 4096)
        Self.fill(&index, a, 0)
        Self.fill(&index, Self.meta("h/b", length: 4096), 0)
        let read = try #require(Self.check(index, "h/a", 0))
        Self.fill(&index, Self.meta("h/c", length: 4096), 0)
        let used = index.drives[0].usedBytes
        _ = Self.journal(&index)
        let checked2 = index.blockChecked(read, whole: false)
        #expect(checked2 == .refuse(BlockIndex.Cleanup()))
        #expect(Self.journal(&index).isEmpty)
        #expect(index.drives[0].usedBytes == used)
    }

    /// A missing or short file of a block still in the index is forgotten once, with one eviction line.
    @Test func aDamagedBlockIsForgottenOnce() throws {
        var index = Self.index()
        let meta = Self.meta("h/torn")
        Self.fill(&index, meta, 0)
        Self.fill(&index, meta, 1)
        _ = Self.journal(&index)
        let first = try #require(Self.check(index, "h/torn", 1))
        let second = try #require(Self.check(index, "h/torn", 1))
        let checked3 = index.blockChecked(first, whole: false)
        #expect(checked3 == .refuse(BlockIndex.Cleanup(journals: [0])))
        let checked4 = index.blockChecked(second, whole: false)
        #expect(checked4 == .refuse(BlockIndex.Cleanup()))
        #expect(Self.journal(&index) == [.evicted(ObjectID(key: "h/torn"), 1)])
        #expect(index.storedBlocks(id: ObjectID(key: "h/torn"), key: "h/torn") == [0])
        #expect(index.drives[0].usedBytes == 4096)
    }

    /// The object was replaced while a reader opened its file: the file may be the new version's, so it is not served.
    @Test func aReaderOfAReplacedObjectIsNotServed() throws {
        var index = Self.index()
        Self.fill(&index, Self.meta("h/x", etag: "\"1\""), 0)
        let read = try #require(Self.check(index, "h/x", 0))
        let new = Self.meta("h/x", etag: "\"2\"")
        guard case .write(_, let cleanup) = index.fillArrived(new, id: ObjectID(key: new.key), block: 0) else {
            Issue.record("the fill was refused")
            return
        }
        #expect(cleanup.removals == [BlockIndex.BlockRef(drive: 0, id: ObjectID(key: "h/x"), index: 0)])
        #expect(Self.journal(&index).suffix(2) == [.dropped(ObjectID(key: "h/x")), .object(ObjectID(key: "h/x"), new)])
        let checked5 = index.blockChecked(read, whole: true)
        #expect(checked5 == .refuse(BlockIndex.Cleanup()))
    }

    /// A block written for an object that was dropped meanwhile is discarded, and its room given back.
    @Test func aFillOfADroppedObjectIsDiscarded() throws {
        var index = Self.index()
        let meta = Self.meta("h/gone")
        guard case .write(let reservation, _) = index.fillArrived(meta, id: ObjectID(key: meta.key), block: 0) else {
            Issue.record("the fill was refused")
            return
        }
        _ = index.drop(id: ObjectID(key: "h/gone"), key: "h/gone")
        guard case .discard = index.fillStored(reservation) else {
            Issue.record("the block was kept")
            return
        }
        #expect(index.drives[0].usedBytes == 0)
        #expect(index.metadata(id: ObjectID(key: "h/gone"), key: "h/gone") == nil)
    }

    /// A write that fails on a full drive gives its room back and the drive takes nothing more.
    @Test func aFailedWriteOnAFullDriveStopsStoringThere() throws {
        var index = Self.index()
        let meta = Self.meta("h/full")
        guard case .write(let reservation, _) = index.fillArrived(meta, id: ObjectID(key: meta.key), block: 0) else {
            Issue.record("the fill was refused")
            return
        }
        index.fillFailed(reservation, driveFull: true)
        #expect(index.drives[0].usedBytes == 0)
        #expect(!index.drives[0].writable)
        guard case .refuse = index.fillArrived(meta, id: ObjectID(key: meta.key), block: 1) else {
            Issue.record("an unwritable drive took a block")
            return
        }
    }

    /// Eviction frees the least recently used blocks, journals them before their files go, and counts the journal.
    @Test func evictionFreesTheLeastRecentlyUsedAndCountsItsLines() throws {
        var index = Self.index(capacity: 4096 * 4 + 1024)
        let a = Self.meta("h/a", length: 8192)
        let b = Self.meta("h/b", length: 8192)
        for block in 0..<2 { Self.fill(&index, a, block) }
        for block in 0..<2 { Self.fill(&index, b, block) }
        // Reading a's first block makes it the most recent.
        let read = try #require(Self.check(index, "h/a", 0))
        let checked6 = index.blockChecked(read, whole: true)
        #expect(checked6 == .serve)
        let c = Self.meta("h/c", length: 4096)
        guard case .write(_, let cleanup) = index.fillArrived(c, id: ObjectID(key: c.key), block: 0) else {
            Issue.record("the fill was refused")
            return
        }
        let evicted = cleanup.removals.map { "\($0.id == ObjectID(key: "h/a") ? "a" : "b")\($0.index)" }
        #expect(evicted.first == "a1")
        #expect(!evicted.contains("a0"))
        #expect(cleanup.journals == [0])
        #expect(index.drives[0].footprint <= 4096 * 4 + 1024)
        #expect(index.drives[0].journalBytes == Int64(index.drives[0].pendingJournal.utf8.count), "taken, not written")
    }

    /// The compaction's tail is what was taken after its snapshot; lines taken during the swap go to the new file.
    @Test func compactionCountsTheLinesTakenMeanwhile() throws {
        var index = Self.index(capacity: 4096 * 8, journalSlack: 10)
        var compaction: BlockIndex.Compaction?
        var round = 0
        while compaction == nil && round < 200 {
            let meta = Self.meta("h/churn-\(round)", length: 4096)
            if case .write(let reservation, _) = index.fillArrived(meta, id: ObjectID(key: meta.key), block: 0),
                case .keep(_, let started) = index.fillStored(reservation)
            {
                compaction = started
            }
            round += 1
        }
        let started = try #require(compaction)
        #expect(started.offset == index.drives[0].journalBytes)
        let again = index.beginCompaction(drive: 0)
        #expect(again == nil, "one compaction at a time")
        // The writer has written everything taken so far, and swaps; a fill goes on meanwhile.
        _ = index.takeJournal(drive: 0)
        let swapped = index.compactionSwapping(drive: 0)
        let swap = try #require(swapped)
        Self.fill(&index, Self.meta("h/late", length: 4096), 0)
        let taken = index.takeJournal(drive: 0)
        let late = try #require(taken)
        index.compactionFinished(drive: 0, bytes: 1000, records: 10, swap: swap, reopened: true)
        #expect(index.drives[0].journalBytes == 1000 + Int64(late.text.utf8.count))
        #expect(index.drives[0].journalRecords == 10 + late.records)
        #expect(!index.drives[0].compacting)
    }

    /// Once closed, nothing is stored or journaled, and a compaction waiting to swap gives up.
    @Test func aClosedIndexStoresNothing() throws {
        var index = Self.index(journalSlack: 0)
        let a = Self.meta("h/a")
        Self.fill(&index, Self.meta("h/b"), 0)
        Self.fill(&index, a, 0)
        _ = index.drop(id: ObjectID(key: "h/a"), key: "h/a")
        let begun = index.beginCompaction(drive: 0)
        let compaction = try #require(begun)
        #expect(compaction.offset == index.drives[0].journalBytes)
        _ = index.takeJournal(drive: 0)
        let closing = index.close()
        #expect(closing == [0])
        let swapped = index.compactionSwapping(drive: 0)
        #expect(swapped == nil)
        #expect(!index.drives[0].compacting)
        guard case .refuse(let refused) = index.fillArrived(a, id: ObjectID(key: a.key), block: 1) else {
            Issue.record("a closed index took a block")
            return
        }
        #expect(refused == BlockIndex.Cleanup())
        // A drop still forgets the object and removes its files, with no journal line.
        let dropped = index.drop(id: ObjectID(key: "h/b"), key: "h/b")
        let removal = BlockIndex.BlockRef(drive: 0, id: ObjectID(key: "h/b"), index: 0)
        #expect(dropped == BlockIndex.Cleanup(removals: [removal]))
        #expect(Self.journal(&index).isEmpty)
    }

    /// A journal's bytes replay to the index; a line cut by kill -9 is left out of the valid length.
    @Test func aJournalReplaysToTheIndexWithoutItsTornLine() {
        let a = ObjectID(key: "h/a")
        let meta = Self.meta("h/a")
        let b = ObjectID(key: "h/b")
        let lines = [
            JournalRecord.object(a, meta), .block(a, 0), .block(a, 1), .block(a, 2), .evicted(a, 1),
            .object(b, Self.meta("h/b")), .block(b, 0), .dropped(b),
        ].map(\.line).joined()
        let torn = lines + "B\t\(a)\t1"
        var replay = BlockIndex.Replay(drive: 0, blockSize: Self.blockSize)
        Array(torn.utf8).withUnsafeBufferPointer { replay.read($0) }
        #expect(replay.records == 8)
        #expect(replay.validLength == lines.utf8.count)
        #expect(replay.entries.count == 1)
        #expect(replay.entries[a]?.blocks.keys.sorted() == [0, 2])
        // Use order: block 2 was named after block 0.
        #expect((replay.entries[a]?.blocks[0] ?? 0) < (replay.entries[a]?.blocks[2] ?? 0))
    }
}
