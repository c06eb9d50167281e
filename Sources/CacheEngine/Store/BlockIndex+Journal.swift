extension BlockIndex {
    /// Journal lines handed to the drive's writer, in the order they were decided.
    struct JournalBatch: Equatable, Sendable {
        var text: String
        var records: Int
    }

    /// Hands the drive's pending lines to its writer (who holds the drive's journal lock, so batches are written in
    /// the order they are taken); `nil` when there are none.
    mutating func takeJournal(drive: Int) -> JournalBatch? {
        guard drives[drive].pendingRecords > 0 else { return nil }
        let batch = JournalBatch(text: drives[drive].pendingJournal, records: drives[drive].pendingRecords)
        drives[drive].pendingJournal = ""
        drives[drive].pendingRecords = 0
        return batch
    }

    /// Writing a batch failed: the drive takes nothing more, and the lines no longer count.
    mutating func journalFailed(drive: Int, _ batch: JournalBatch) {
        drives[drive].writable = false
        drives[drive].journalBytes -= Int64(batch.text.utf8.count)
        drives[drive].journalRecords -= batch.records
    }

    // MARK: Compaction

    /// A journal rewrite in progress: the live records come from `snapshot`, the lines from `offset` on are copied
    /// after them.
    struct Compaction {
        var drive: Int
        /// The index when the compaction began (copy-on-write: the copy is made by the next change, not here).
        var snapshot: [ObjectID: Entry]
        /// The journal's length (lines taken, written or not) when the snapshot was taken.
        var offset: Int64
    }

    /// Where the journal stood when the new file's tail was read: everything taken until then is in the old file.
    struct CompactionSwap: Equatable, Sendable {
        var bytes: Int64
        var records: Int
    }

    /// After a block is stored: begins compacting the drive's journal once most of it is history.
    mutating func beginCompaction(drive index: Int) -> Compaction? {
        let drive = drives[index]
        guard !closed, drive.journalOpen, !drive.compacting, drive.journalNeedsCompaction(slack: journalSlack) else {
            return nil
        }
        drives[index].compacting = true
        return Compaction(drive: index, snapshot: entries, offset: drive.journalBytes)
    }

    /// The compacted file's live part is written; its writer holds the journal lock and has written every batch
    /// taken so far. `nil` when the journal was closed meanwhile (the compaction is given up).
    mutating func compactionSwapping(drive: Int) -> CompactionSwap? {
        guard !closed, drives[drive].journalOpen else {
            drives[drive].compacting = false
            return nil
        }
        return CompactionSwap(bytes: drives[drive].journalBytes, records: drives[drive].journalRecords)
    }

    /// The compacted file is in place: `bytes` and `records` of it, and the lines taken since the swap (still pending,
    /// for the new file).
    mutating func compactionFinished(drive: Int, bytes: Int64, records: Int, swap: CompactionSwap, reopened: Bool) {
        drives[drive].compacting = false
        drives[drive].journalBytes = bytes + drives[drive].journalBytes - swap.bytes
        drives[drive].journalRecords = records + drives[drive].journalRecords - swap.records
        if !reopened {
            drives[drive].writable = false
            drives[drive].journalOpen = false
        }
    }

    mutating func compactionFailed(drive: Int) {
        drives[drive].compacting = false
    }

    /// The journal lines of `entries` (those with stored blocks, or all of them): each object, then its blocks, least
    /// recently used first, so a replay restores the use order.
    static func liveRecords(
        _ entries: some Sequence<(key: ObjectID, value: Entry)>,
        withoutBlocks: Bool = false
    ) -> (text: String, records: Int) {
        var text = ""
        var records = 0
        let stored = entries.filter { withoutBlocks || !$0.value.blocks.isEmpty }
        text.reserveCapacity(stored.reduce(0) { $0 + 160 + 24 * $1.value.blocks.count })
        for (id, entry) in stored.sorted(by: {
            ($0.value.blocks.values.max() ?? 0) < ($1.value.blocks.values.max() ?? 0)
        }) {
            text += JournalRecord.object(id, entry.meta).line
            for (index, _) in entry.blocks.sorted(by: { $0.value < $1.value }) {
                text += JournalRecord.block(id, index).line
            }
            records += 1 + entry.blocks.count
        }
        return (text, records)
    }
}
