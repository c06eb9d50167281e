#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension BlockIndex {
    /// A smaller capacity than last time: the blocks that must go now rather than on the first write.
    mutating func evictToFit(drive: Int) -> Cleanup {
        var cleanup = Cleanup()
        evict(drive: drive, needed: 0, &cleanup)
        return cleanup
    }

    /// Evicts least-recently-used blocks on one drive until `needed` more bytes fit beside everything the cache holds
    /// there (blocks, journal, format file); the blocks go to `cleanup.removals`, their lines to the journal.
    mutating func evict(
        drive: Int,
        needed: Int64,
        keep: ObjectID? = nil,
        everything: Bool = false,
        _ cleanup: inout Cleanup
    ) {
        let capacity = drives[drive].drive.capacityBytes
        guard drives[drive].footprint + needed > capacity else { return }
        // Free a little more than needed so eviction runs in batches, not on every block.
        let target = max(0, min(capacity - needed, capacity - capacity / 50 - needed))
        let threshold = everything ? .max : sampledThreshold(drive: drive, toFree: drives[drive].footprint - target)
        var candidates: [(tick: UInt64, id: ObjectID, index: Int)] = []
        for (id, entry) in entries where entry.drive == drive {
            for (index, tick) in entry.blocks where tick <= threshold { candidates.append((tick, id, index)) }
        }
        candidates.sort { $0.tick < $1.tick }
        // The batch's journal lines, taken at once (one write, not one per block); counted as they are made.
        var lines = ""
        var count = 0
        var pending: Int64 = 0
        for candidate in candidates {
            if drives[drive].footprint + pending <= target { break }
            // In place: a copy of the entry would copy its block table for every block evicted.
            guard let length = entries[candidate.id]?.meta.blockLength(candidate.index),
                entries[candidate.id]?.blocks.removeValue(forKey: candidate.index) != nil
            else { continue }
            drives[drive].usedBytes -= Int64(length)
            drives[drive].blocks -= 1
            cleanup.removals.append(BlockRef(drive: drive, id: candidate.id, index: candidate.index))
            let record: JournalRecord
            if entries[candidate.id]?.blocks.isEmpty == true && candidate.id != keep {
                entries[candidate.id] = nil
                drives[drive].objects -= 1
                record = .dropped(candidate.id)
            } else {
                record = .evicted(candidate.id, candidate.index)
            }
            let line = record.line
            pending += Int64(line.utf8.count)
            lines += line
            count += 1
        }
        if drives[drive].journalOpen && count > 0 {
            drives[drive].takeRecords(lines, count: count)
            cleanup.journal(drive)
        }
        if threshold != .max && drives[drive].footprint > target {
            evict(drive: drive, needed: needed, keep: keep, everything: true, &cleanup)
        }
    }

    /// A use tick below which about twice the blocks to free lie, from a sample of the drive's ticks, so only those
    /// are sorted; `.max` (sort them all) on a small drive or a large batch. Should the sample misjudge, the rest
    /// follow in a second round.
    func sampledThreshold(drive: Int, toFree: Int64) -> UInt64 {
        let fraction = Double(toFree) / Double(max(1, drives[drive].usedBytes))
        let total = drives[drive].blocks
        guard total > 4096 && fraction < 0.25 else { return .max }
        var sample: [UInt64] = []
        sample.reserveCapacity(1100)
        let step = total / 1024
        var position = 0
        for entry in entries.values where entry.drive == drive {
            for tick in entry.blocks.values {
                if position % step == 0 { sample.append(tick) }
                position += 1
            }
        }
        sample.sort()
        guard !sample.isEmpty else { return .max }
        return sample[min(sample.count - 1, Int(Double(sample.count) * (2 * fraction + 0.01)) + 1)]
    }

    /// Weighted rendezvous hashing: drives share objects in proportion to their size; full ones are skipped.
    static func chooseDrive(_ drives: [DriveState], id: ObjectID, length: Int64) -> Int? {
        var best: (score: Double, index: Int)?
        for (index, drive) in drives.enumerated() where drive.writable && drive.drive.capacityBytes > 0 {
            var hash = ObjectID(key: "\(id)/\(index)").value
            hash = hash == 0 ? 1 : hash
            let uniform = Double(hash >> 11) / Double(1 << 53)
            let score = -Double(drive.drive.capacityBytes) / log(max(uniform, 1e-300))
            if best == nil || score > best!.score { best = (score, index) }
        }
        return best?.index
    }
}
