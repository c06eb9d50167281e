import CacheProtocol
import CacheNodeCore
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cached content on the configured drives: blocks aligned to the block size, and an index that survives restarts.
///
/// Each drive holds `cachenode/format` (the block size the cache was built with), `cachenode/journal`
/// (the index as records, compacted at start-up and while running once most of it is history) and
/// `cachenode/blocks/xx/<id>.<n>` files. A block is written to a temporary file, fsynced and renamed before its
/// journal record is appended, so after `kill -9` the index only names whole blocks; a block file of the wrong size
/// is never served. The journal and format files count against the drive's size like the blocks do.
package final class BlockStore: Sendable {
    /// One configured drive.
    package struct Drive: Sendable {
        package var path: String
        package var capacityBytes: Int64

        package init(path: String, capacityBytes: Int64) {
            self.path = path
            self.capacityBytes = capacityBytes
        }
    }

    /// A stored block opened for reading: it stays readable after eviction until closed.
    package struct OpenBlock: Sendable {
        package var handle: NIOFileHandle
        package var length: Int
    }

    struct DriveState {
        var drive: Drive
        var root: String
        /// Bytes of stored blocks.
        var usedBytes: Int64 = 0
        var objects = 0
        /// Stored blocks.
        var blocks = 0
        var writable = true
        var journal: CInt = -1
        /// The journal's length and lines, and the format file's length: the index's own share of the drive.
        var journalBytes: Int64 = 0
        var journalRecords = 0
        var formatBytes: Int64 = 0
        /// Set while the journal is being compacted (one compaction per drive at a time).
        var compacting = false

        /// Everything the cache holds on the drive: blocks, journal and format file.
        var footprint: Int64 { usedBytes + journalBytes + formatBytes }

        /// Whether most of the journal is history (evicted blocks, dropped objects, replaced metadata), or history
        /// takes a sixteenth of the drive.
        func journalNeedsCompaction(slack: Int) -> Bool {
            let live = objects + blocks
            return journalRecords > 2 * live + slack || (journalBytes > drive.capacityBytes / 16 && journalRecords > 2 * live + 64)
        }
    }

    struct Entry {
        var drive: Int
        var meta: ObjectMetadata
        /// Stored blocks and their last use, in the store's access order.
        var blocks: [Int: UInt64] = [:]
    }

    struct State {
        var drives: [DriveState]
        var entries: [ObjectID: Entry] = [:]
        var tick: UInt64 = 0
        /// Set once the engine has stopped: nothing more is stored.
        var closed = false
    }

    package let blockSize: Int
    private let state: Mutex<State>
    private let logger: Logger
    /// Lines of history the journal may carry beyond twice its live records before it is compacted.
    private let journalSlack: Int

    /// Opens (or creates) the store on `drives`; a cache built with another block size is dropped with a log line.
    package init(drives: [Drive], blockSize: Int, logger: Logger, journalSlack: Int = 100_000) throws(StoreError) {
        guard !drives.isEmpty else { throw .noDrives }
        self.blockSize = blockSize
        self.logger = logger
        self.journalSlack = journalSlack
        var states: [DriveState] = []
        var entries: [ObjectID: Entry] = [:]
        for (index, drive) in drives.enumerated() {
            var driveState = DriveState(drive: drive, root: drive.path + "/cachenode")
            try Self.load(&driveState, index: index, blockSize: blockSize, entries: &entries, logger: logger)
            states.append(driveState)
        }
        // Replayed records were numbered from 1 on each drive: later uses must sort after all of them.
        state = Mutex(State(drives: states, entries: entries, tick: UInt64(1) << 40))
        // A smaller capacity than last time: evict now rather than on the first write.
        for index in drives.indices {
            let removed = state.withLock { state in Self.evict(&state, drive: index, needed: 0) }
            removed.forEach { unlink($0) }
        }
    }

    deinit {
        closeJournals()
    }

    /// Closes the journals once the engine has stopped, so the drives hold no file open for writing (an operator can
    /// unmount them or remount them read-only at once); reads still work, nothing more is stored.
    package func closeJournals() {
        state.withLock { state in
            state.closed = true
            for index in state.drives.indices where state.drives[index].journal >= 0 {
                Glibc.close(state.drives[index].journal)
                state.drives[index].journal = -1
            }
        }
    }

    // MARK: Reading

    /// The metadata of a cached object, if any of it is stored.
    package func metadata(for key: String) -> ObjectMetadata? {
        let id = ObjectID(key: key)
        return state.withLock { state in
            guard let entry = state.entries[id], entry.meta.key == key else { return nil }
            return entry.meta
        }
    }

    /// Whether block `index` of `key` is stored.
    package func contains(key: String, block index: Int) -> Bool {
        let id = ObjectID(key: key)
        return state.withLock { state in
            guard let entry = state.entries[id], entry.meta.key == key else { return false }
            return entry.blocks[index] != nil
        }
    }

    /// Opens a stored block and marks it used; `nil` when it is not stored or its file is not whole.
    package func open(key: String, block index: Int) -> OpenBlock? {
        let id = ObjectID(key: key)
        let opened: OpenBlock?? = state.withLock { state in
            guard let entry = state.entries[id], entry.meta.key == key, entry.blocks[index] != nil else { return nil }
            let drive = entry.drive
            let path = Self.blockPath(state.drives[drive].root, id, index)
            let expected = entry.meta.blockLength(index)
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            var info = stat()
            if fd >= 0 && fstat(fd, &info) == 0 && Int(info.st_size) == expected {
                state.tick += 1
                // In place: a copy of the entry would copy its block table on every hit.
                state.entries[id]?.blocks[index] = state.tick
                return .some(OpenBlock(handle: NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd), length: expected))
            }
            if fd >= 0 { close(fd) }
            // Missing or damaged: forget it so the next request refills it.
            state.entries[id]?.blocks[index] = nil
            state.drives[drive].usedBytes -= Int64(expected)
            state.drives[drive].blocks -= 1
            Self.append(&state.drives[drive], .evicted(id, index))
            return .some(nil)
        }
        return opened ?? nil
    }

    // MARK: Writing

    /// Stores one whole block of an object (blocking I/O); false when it was not stored (disk full, drive
    /// read-only, a hash collision). An object whose ETag or length changed is dropped first, never mixed.
    @discardableResult
    package func store(_ meta: ObjectMetadata, block index: Int, chunks: [ByteBuffer]) -> Bool {
        let id = ObjectID(key: meta.key)
        let length = meta.blockLength(index)
        guard meta.blockSize == blockSize, index >= 0, index < meta.blockCount,
            chunks.reduce(0, { $0 + $1.readableBytes }) == length
        else { return false }

        struct Reservation {
            var drive: Int
            var root: String
            var removed: [String]
        }
        let reservation: Reservation? = state.withLock { state in
            guard !state.closed else { return nil }
            var removed: [String] = []
            if let existing = state.entries[id] {
                guard existing.meta.key == meta.key else { return nil }  // a collision: not cacheable
                if !existing.meta.sameContent(as: meta) {
                    removed += Self.drop(&state, id: id)
                } else if existing.blocks[index] != nil {
                    return nil  // already stored
                }
            }
            let driveIndex: Int
            if let entry = state.entries[id] {
                driveIndex = entry.drive
            } else {
                guard let chosen = Self.chooseDrive(state.drives, id: id, length: meta.length) else { return nil }
                driveIndex = chosen
                state.entries[id] = Entry(drive: chosen, meta: meta)
                state.drives[chosen].objects += 1
                Self.append(&state.drives[chosen], .object(id, meta))
            }
            guard state.drives[driveIndex].writable, Int64(length) <= state.drives[driveIndex].drive.capacityBytes
            else { return nil }
            // Room for the block and the journal line that will name it.
            removed += Self.evict(&state, drive: driveIndex, needed: Int64(length) + Self.recordAllowance, keep: id)
            state.drives[driveIndex].usedBytes += Int64(length)
            return Reservation(drive: driveIndex, root: state.drives[driveIndex].root, removed: removed)
        }
        guard let reservation else { return false }
        reservation.removed.forEach { unlink($0) }

        let path = Self.blockPath(reservation.root, id, index)
        do throws(StoreError) {
            try Self.writeBlock(path: path, temporaryDirectory: reservation.root + "/tmp", chunks: chunks)
        } catch {
            state.withLock { state in
                state.drives[reservation.drive].usedBytes -= Int64(length)
                if error.isDriveFull { state.drives[reservation.drive].writable = false }
            }
            logger.warning(
                "cache write failed; serving from the origin without storing",
                metadata: ["store.path": "\(path)", "error": "\(error)"]
            )
            return false
        }
        let kept = state.withLock { state -> Bool in
            guard let entry = state.entries[id], entry.meta == meta || entry.meta.sameContent(as: meta),
                entry.drive == reservation.drive
            else {
                state.drives[reservation.drive].usedBytes -= Int64(length)
                return false
            }
            state.tick += 1
            state.entries[id]?.blocks[index] = state.tick
            state.drives[reservation.drive].blocks += 1
            Self.append(&state.drives[reservation.drive], .block(id, index))
            return true
        }
        if !kept { unlink(path) }
        if kept { compactJournalIfNeeded(drive: reservation.drive) }
        return kept
    }

    // MARK: Journal compaction

    /// The most a journal line adds to a drive (an object line is counted when its object is first stored).
    static let recordAllowance: Int64 = 64

    /// Rewrites a drive's journal with its live records only, once most of its lines are history: a node that runs
    /// for months keeps a journal the size of its index, not of its past, and restarts as fast as on its first day.
    ///
    /// The live records are written from a snapshot of the index, outside the lock (stores and hits go on); the
    /// lines appended meanwhile are then copied after them under the lock, and the new journal is renamed into place.
    /// Either file, the old or the new, replays to the same index; an error leaves the old one as it was.
    private func compactJournalIfNeeded(drive index: Int) {
        struct Snapshot {
            var entries: [ObjectID: Entry]
            var offset: Int64
            var root: String
        }
        let slack = journalSlack
        let snapshot: Snapshot? = state.withLock { state in
            let drive = state.drives[index]
            guard !state.closed, drive.journal >= 0, !drive.compacting, drive.journalNeedsCompaction(slack: slack)
            else { return nil }
            state.drives[index].compacting = true
            // Copy-on-write: the copy is made by the next change to the index, not here.
            return Snapshot(entries: state.entries, offset: drive.journalBytes, root: drive.root)
        }
        guard let snapshot else { return }
        let journalPath = snapshot.root + "/journal"
        let temporary = snapshot.root + "/journal.compacting"
        // Objects without a stored block keep their line too: a block being written now is named after them.
        let live = Self.liveRecords(snapshot.entries.filter { $0.value.drive == index }, withoutBlocks: true)
        do throws(StoreError) {
            let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileIO.failure("open", temporary) }
            defer { close(fd) }
            try FileIO.writeAll(fd, live.text, path: temporary)
            guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
            try state.withLock { (state: inout State) throws(StoreError) in
                defer { state.drives[index].compacting = false }
                guard !state.closed, state.drives[index].journal >= 0 else {
                    unlink(temporary)
                    return
                }
                let tail = try FileIO.read(journalPath, from: snapshot.offset) ?? []
                try FileIO.writeAll(fd, [ByteBuffer(bytes: tail)], path: temporary)
                guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
                guard Glibc.rename(temporary, journalPath) == 0 else { throw FileIO.failure("rename", journalPath) }
                let reopened = Glibc.open(journalPath, O_WRONLY | O_APPEND | O_CLOEXEC)
                Glibc.close(state.drives[index].journal)
                state.drives[index].journal = reopened
                state.drives[index].journalBytes = Int64(live.text.utf8.count + tail.count)
                state.drives[index].journalRecords = live.records + tail.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                if reopened < 0 {
                    state.drives[index].writable = false
                    throw FileIO.failure("open", journalPath)
                }
            }
        } catch {
            unlink(temporary)
            state.withLock { $0.drives[index].compacting = false }
            logger.warning(
                "cache journal compaction failed; keeping the journal as it is",
                metadata: ["store.path": "\(journalPath)", "error": "\(error)"]
            )
        }
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
        for (id, entry) in stored.sorted(by: { ($0.value.blocks.values.max() ?? 0) < ($1.value.blocks.values.max() ?? 0) }) {
            text += JournalRecord.object(id, entry.meta).line
            for (index, _) in entry.blocks.sorted(by: { $0.value < $1.value }) {
                text += JournalRecord.block(id, index).line
            }
            records += 1 + entry.blocks.count
        }
        return (text, records)
    }

    /// Removes an object and all its blocks (its content changed at the origin).
    package func drop(key: String) {
        let id = ObjectID(key: key)
        let removed = state.withLock { state -> [String] in
            guard let entry = state.entries[id], entry.meta.key == key else { return [] }
            return Self.drop(&state, id: id)
        }
        removed.forEach { unlink($0) }
    }

    // MARK: Status

    /// Objects with at least one stored block.
    package var objectCount: Int { state.withLock { $0.entries.values.filter { !$0.blocks.isEmpty }.count } }

    /// Each drive's use, for `/status`.
    package func driveStatus() -> [EngineStatus.Drive] {
        state.withLock { state in
            state.drives.map {
                EngineStatus.Drive(
                    path: $0.drive.path,
                    capacityBytes: $0.drive.capacityBytes,
                    usedBytes: $0.usedBytes,
                    objects: $0.objects,
                    writable: $0.writable
                )
            }
        }
    }

    /// The store's LRU ordering: the blocks of `key` in eviction order's terms (for tests).
    package func storedBlocks(key: String) -> [Int] {
        let id = ObjectID(key: key)
        return state.withLock { state in
            guard let entry = state.entries[id], entry.meta.key == key else { return [] }
            return entry.blocks.keys.sorted()
        }
    }

    // MARK: Internals

    static func blockPath(_ root: String, _ id: ObjectID, _ index: Int) -> String {
        let name = id.description
        return "\(root)/blocks/\(name.prefix(2))/\(name).\(index)"
    }

    private static func writeBlock(path: String, temporaryDirectory: String, chunks: [ByteBuffer]) throws(StoreError) {
        let temporary = "\(temporaryDirectory)/\(path.split(separator: "/").last!).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.failure("open", temporary) }
        do throws(StoreError) {
            try FileIO.writeAll(fd, chunks, path: temporary)
            guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        let directory = String(path[..<path.lastIndex(of: "/")!])
        if Glibc.rename(temporary, path) != 0 {
            if errno == ENOENT {
                try? FileIO.makeDirectories(directory)
                if Glibc.rename(temporary, path) == 0 { return }
            }
            let error = FileIO.failure("rename", path)
            unlink(temporary)
            throw error
        }
    }

    private static func append(_ drive: inout DriveState, _ record: JournalRecord) {
        append(&drive, [record])
    }

    /// Appends records with one write.
    private static func append(_ drive: inout DriveState, _ records: [JournalRecord]) {
        guard drive.journal >= 0, !records.isEmpty else { return }
        let text = records.map(\.line).joined()
        do {
            try FileIO.writeAll(drive.journal, text, path: drive.root + "/journal")
            drive.journalBytes += Int64(text.utf8.count)
            drive.journalRecords += records.count
        } catch {
            drive.writable = false
        }
    }

    /// Removes an object from the index; returns the block files to unlink.
    private static func drop(_ state: inout State, id: ObjectID) -> [String] {
        guard let entry = state.entries.removeValue(forKey: id) else { return [] }
        var drive = state.drives[entry.drive]
        var removed: [String] = []
        for index in entry.blocks.keys {
            drive.usedBytes -= Int64(entry.meta.blockLength(index))
            removed.append(blockPath(drive.root, id, index))
        }
        drive.blocks -= entry.blocks.count
        drive.objects -= 1
        append(&drive, .dropped(id))
        state.drives[entry.drive] = drive
        return removed
    }

    /// Evicts least-recently-used blocks on one drive until `needed` more bytes fit beside everything the cache holds
    /// there (blocks, journal, format file); returns files to unlink.
    static func evict(_ state: inout State, drive: Int, needed: Int64, keep: ObjectID? = nil, everything: Bool = false) -> [String] {
        let capacity = state.drives[drive].drive.capacityBytes
        guard state.drives[drive].footprint + needed > capacity else { return [] }
        // Free a little more than needed so eviction runs in batches, not on every block.
        let target = max(0, min(capacity - needed, capacity - capacity / 50 - needed))
        // The oldest blocks without sorting them all (the index lock is held): a sample of the drive's use ticks
        // gives one below which about twice the blocks to free lie, and only those are sorted. Should the sample
        // misjudge, the rest follow in a second round.
        let toFree = state.drives[drive].footprint - target
        let fraction = Double(toFree) / Double(max(1, state.drives[drive].usedBytes))
        var threshold = UInt64.max
        let total = state.drives[drive].blocks
        if !everything && total > 4096 && fraction < 0.25 {
            var sample: [UInt64] = []
            sample.reserveCapacity(1100)
            let step = total / 1024
            var position = 0
            for entry in state.entries.values where entry.drive == drive {
                for tick in entry.blocks.values {
                    if position % step == 0 { sample.append(tick) }
                    position += 1
                }
            }
            sample.sort()
            if !sample.isEmpty {
                threshold = sample[min(sample.count - 1, Int(Double(sample.count) * (2 * fraction + 0.01)) + 1)]
            }
        }
        var candidates: [(tick: UInt64, id: ObjectID, index: Int)] = []
        for (id, entry) in state.entries where entry.drive == drive {
            for (index, tick) in entry.blocks where tick <= threshold { candidates.append((tick, id, index)) }
        }
        candidates.sort { $0.tick < $1.tick }
        var removed: [String] = []
        let root = state.drives[drive].root
        // The batch's journal lines, written at once (one write, not one per block); counted as they are made.
        var lines: [JournalRecord] = []
        var pending: Int64 = 0
        for candidate in candidates {
            if state.drives[drive].footprint + pending <= target { break }
            // In place: a copy of the entry would copy its block table for every block evicted.
            guard let length = state.entries[candidate.id]?.meta.blockLength(candidate.index),
                state.entries[candidate.id]?.blocks.removeValue(forKey: candidate.index) != nil
            else { continue }
            state.drives[drive].usedBytes -= Int64(length)
            state.drives[drive].blocks -= 1
            removed.append(blockPath(root, candidate.id, candidate.index))
            let record: JournalRecord
            if state.entries[candidate.id]?.blocks.isEmpty == true && candidate.id != keep {
                state.entries[candidate.id] = nil
                state.drives[drive].objects -= 1
                record = .dropped(candidate.id)
            } else {
                record = .evicted(candidate.id, candidate.index)
            }
            pending += Int64(record.line.utf8.count)
            lines.append(record)
        }
        append(&state.drives[drive], lines)
        if threshold != .max && state.drives[drive].footprint > target {
            removed += evict(&state, drive: drive, needed: needed, keep: keep, everything: true)
        }
        return removed
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

    /// Reads a drive's format and journal into the index, then writes the journal compacted.
    private static func load(
        _ drive: inout DriveState,
        index driveIndex: Int,
        blockSize: Int,
        entries: inout [ObjectID: Entry],
        logger: Logger
    ) throws(StoreError) {
        let root = drive.root
        // A drive mounted read-only still serves what it holds; nothing is written to it.
        var volume = statvfs()
        let readOnly = statvfs(drive.drive.path, &volume) == 0 && volume.f_flag & UInt(ST_RDONLY) != 0
        if readOnly {
            drive.writable = false
            logger.warning("cache drive is read-only; serving what it holds, storing nothing", metadata: ["store.drive": "\(drive.drive.path)"])
        } else {
            try FileIO.makeDirectories(root + "/blocks")
            FileIO.removeTree(root + "/tmp")
            try FileIO.makeDirectories(root + "/tmp")
        }
        let format = "cachenode-store 1\nblock_size \(blockSize)\n"
        let formatPath = root + "/format"
        let existing = try FileIO.read(formatPath).map { String(decoding: $0, as: UTF8.self) }
        if readOnly && existing != format { return }
        if let existing, existing != format {
            let previous = existing.split(separator: "\n").first { $0.hasPrefix("block_size ") }?
                .dropFirst("block_size ".count) ?? "unknown"
            logger.warning(
                "cache block size changed; dropping the content stored with the old block size",
                metadata: ["store.drive": "\(drive.drive.path)", "old.block_size": "\(previous)", "block_size": "\(blockSize)"]
            )
            let aside = root + "/dropped-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            Glibc.rename(root + "/blocks", aside)
            unlink(root + "/journal")
            try FileIO.makeDirectories(root + "/blocks")
            detachRemoval(aside)
        }
        for name in FileIO.list(root) where name.hasPrefix("dropped-") { detachRemoval(root + "/" + name) }
        if existing != format { try FileIO.writeAtomically(formatPath, format) }

        var local: [ObjectID: Entry] = [:]
        var records = 0
        var validLength = 0
        var fileLength = 0
        if let bytes = try FileIO.read(root + "/journal") {
            fileLength = bytes.count
            local.reserveCapacity(bytes.count / 160)
            entries.reserveCapacity(entries.count + bytes.count / 160)
            var tick: UInt64 = 0
            bytes.withUnsafeBufferPointer { buffer in
                var start = 0
                var position = 0
                while position < buffer.count {
                    guard buffer[position] == UInt8(ascii: "\n") else {
                        position += 1
                        continue
                    }
                    let line = UnsafeBufferPointer(rebasing: buffer[start..<position])
                    start = position + 1
                    position = start
                    validLength = start
                    guard let record = JournalRecord(bytes: line) else { continue }
                    tick += 1
                    records += 1
                    switch record {
                    case .object(let id, let meta):
                        local[id] = Entry(drive: driveIndex, meta: meta)
                    case .block(let id, let index):
                        guard let meta = local[id]?.meta, meta.blockSize == blockSize, index < meta.blockCount else { continue }
                        local[id]?.blocks[index] = tick
                    case .evicted(let id, let index):
                        local[id]?.blocks[index] = nil
                    case .dropped(let id):
                        local[id] = nil
                    }
                }
            }
        }
        var live = 0
        for (id, entry) in local where !entry.blocks.isEmpty && entries[id] == nil {
            for index in entry.blocks.keys { drive.usedBytes += Int64(entry.meta.blockLength(index)) }
            drive.blocks += entry.blocks.count
            drive.objects += 1
            live += 1 + entry.blocks.count
            entries[id] = entry
        }
        if readOnly {
            // Nothing to compact or append to.
        } else if records > 2 * live + 1000 || fileLength == 0 {
            // Mostly evicted or dropped records: rewrite the journal with the live ones, oldest use first.
            let compacted = liveRecords(local.filter { !$0.value.blocks.isEmpty && entries[$0.key]?.drive == driveIndex })
            try FileIO.writeAtomically(root + "/journal", compacted.text)
            drive.journalBytes = Int64(compacted.text.utf8.count)
            drive.journalRecords = compacted.records
        } else {
            if validLength < fileLength {
                // A record cut by kill -9: drop it so the next append starts on a fresh line.
                guard truncate(root + "/journal", off_t(validLength)) == 0 else { throw FileIO.failure("truncate", root + "/journal") }
            }
            drive.journalBytes = Int64(validLength)
            drive.journalRecords = records
        }
        drive.formatBytes = Int64(format.utf8.count)
        if !readOnly {
            // A compaction cut by kill -9 leaves its unfinished file; the journal itself is whole.
            unlink(root + "/journal.compacting")
            drive.journal = Glibc.open(root + "/journal", O_WRONLY | O_APPEND | O_CLOEXEC)
            guard drive.journal >= 0 else { throw FileIO.failure("open", root + "/journal") }
        }
        logger.info(
            "cache drive loaded",
            metadata: ["store.drive": "\(drive.drive.path)", "store.objects": "\(drive.objects)", "store.used_bytes": "\(drive.usedBytes)"]
        )
    }
}

/// Removes a dropped cache directory in the background.
private func detachRemoval(_ path: String) {
    Task.detached(priority: .background) { FileIO.removeTree(path) }
}
