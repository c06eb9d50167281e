import CacheNodeCore

/// The block store's index as a value: events in (a lookup, a fill stored, a drop), actions out (a file to check, a
/// block to write, files to remove, journals to write). It touches no file; `BlockStore` owns it behind a lock and
/// does the I/O outside it. docs/engine.md (Store layout) tells how the order of the two is kept.
struct BlockIndex {
    struct DriveState {
        var drive: BlockStore.Drive
        /// Bytes of stored blocks.
        var usedBytes: Int64 = 0
        var objects = 0
        /// Stored blocks.
        var blocks = 0
        var writable = true
        /// Whether records are taken for the drive's journal (false once closed, or on a read-only drive).
        var journalOpen = false
        /// The journal's length and lines, and the format file's length: the index's own share of the drive. The
        /// journal's figures count the lines taken but not written yet (`pendingJournal`).
        var journalBytes: Int64 = 0
        var journalRecords = 0
        var formatBytes: Int64 = 0
        /// Lines taken for the journal, in the order they were decided, and not yet handed to a writer.
        var pendingJournal = ""
        var pendingRecords = 0
        /// Set while the journal is being compacted (one compaction per drive at a time).
        var compacting = false

        init(drive: BlockStore.Drive) {
            self.drive = drive
        }

        /// Everything the cache holds on the drive: blocks, journal and format file.
        var footprint: Int64 { usedBytes + journalBytes + formatBytes }

        /// Whether most of the journal is history (evicted blocks, dropped objects, replaced metadata), or history
        /// takes a sixteenth of the drive.
        func journalNeedsCompaction(slack: Int) -> Bool {
            let live = objects + blocks
            return journalRecords > 2 * live + slack
                || (journalBytes > drive.capacityBytes / 16 && journalRecords > 2 * live + 64)
        }

        /// Takes lines for the journal; they count against the drive at once.
        mutating func takeRecords(_ text: String, count: Int) {
            guard journalOpen, count > 0 else { return }
            pendingJournal += text
            pendingRecords += count
            journalBytes += Int64(text.utf8.count)
            journalRecords += count
        }
    }

    struct Entry {
        /// The drive and the serial share the word a drive number alone would take (memory per object at a million).
        private var driveNumber: UInt32
        /// Which version of the object this is: a new entry for the same id gets a new serial.
        private(set) var serial: UInt32
        var meta: ObjectMetadata
        /// Stored blocks and their last use, in the store's access order.
        var blocks: [Int: UInt64] = [:]

        init(drive: Int, meta: ObjectMetadata, serial: UInt32 = 0) {
            driveNumber = UInt32(drive)
            self.serial = serial
            self.meta = meta
        }

        var drive: Int { Int(driveNumber) }
    }

    /// A block of an object on a drive: what the owner turns into a file path.
    struct BlockRef: Equatable, Sendable {
        var drive: Int
        var id: ObjectID
        var index: Int
    }

    /// What the owner does after an event, in this order: write the drives' pending journal lines, then remove the
    /// block files (a removal is journaled before the file goes, as a store is journaled after its file is in place).
    struct Cleanup: Equatable, Sendable {
        var journals: [Int] = []
        var removals: [BlockRef] = []

        mutating func journal(_ drive: Int) {
            if !journals.contains(drive) { journals.append(drive) }
        }
    }

    var drives: [DriveState]
    var entries: [ObjectID: Entry]
    var tick: UInt64
    /// Serials wrap after 2^32 new objects: a reader's check spans microseconds, not that many.
    var nextSerial: UInt32 = 1
    /// Set once the engine has stopped: nothing more is stored.
    var closed = false
    /// Lines of history the journal may carry beyond twice its live records before it is compacted.
    let journalSlack: Int

    init(drives: [DriveState], entries: [ObjectID: Entry] = [:], tick: UInt64 = 0, journalSlack: Int = 100_000) {
        self.drives = drives
        self.entries = entries
        self.tick = tick
        self.journalSlack = journalSlack
    }

    /// The most a journal line adds to a drive (an object line is counted when its object is first stored).
    static let recordAllowance: Int64 = 64

    mutating func record(_ record: JournalRecord, drive: Int, _ cleanup: inout Cleanup) {
        guard drives[drive].journalOpen else { return }
        drives[drive].takeRecords(record.line, count: 1)
        cleanup.journal(drive)
    }

    // MARK: Reading

    /// A stored block the owner opens and checks outside the lock.
    struct BlockCheck: Equatable, Sendable {
        var block: BlockRef
        var length: Int
        var serial: UInt32
        var tick: UInt64
    }

    enum LookupAction: Equatable {
        case notStored
        /// Open the block's file and check its length, then report with `blockChecked`.
        case check(BlockCheck)
    }

    /// What to do with the file opened for a `BlockCheck`.
    enum CheckedAction: Equatable {
        /// Hand the open file to the reader.
        case serve
        /// Close the file (if open) and answer "not stored"; then act on the cleanup.
        case refuse(Cleanup)
    }

    /// A reader asks for block `index` of `key`; with `version`, of that version only.
    func lookup(id: ObjectID, key: String, block index: Int, version: ObjectMetadata? = nil) -> LookupAction {
        guard let entry = entries[id], entry.meta.key == key, let tick = entry.blocks[index] else { return .notStored }
        if let version, !entry.meta.sameContent(as: version) { return .notStored }
        let block = BlockRef(drive: entry.drive, id: id, index: index)
        return .check(BlockCheck(block: block, length: entry.meta.blockLength(index), serial: entry.serial, tick: tick))
    }

    /// The owner opened the block's file: `whole` when it is there with the block's length.
    mutating func blockChecked(_ check: BlockCheck, whole: Bool) -> CheckedAction {
        let id = check.block.id
        // The object was dropped or replaced meanwhile: the file may be another version's.
        guard let entry = entries[id], entry.serial == check.serial else { return .refuse(Cleanup()) }
        if whole {
            // Evicted meanwhile: the reader opened it first and keeps its bytes, but the block is not brought back.
            if entry.blocks[check.block.index] != nil {
                tick += 1
                // In place: a copy of the entry would copy its block table on every hit.
                entries[id]?.blocks[check.block.index] = tick
            }
            return .serve
        }
        var cleanup = Cleanup()
        // Missing or damaged: forget it so the next request refills it, unless it changed since it was looked up
        // (evicted, or stored again): then the next lookup sees the new state.
        guard entry.blocks[check.block.index] == check.tick else { return .refuse(cleanup) }
        let drive = check.block.drive
        entries[id]?.blocks[check.block.index] = nil
        drives[drive].usedBytes -= Int64(check.length)
        drives[drive].blocks -= 1
        record(.evicted(id, check.block.index), drive: drive, &cleanup)
        return .refuse(cleanup)
    }

    // MARK: Writing

    /// Room taken on a drive for one block being written.
    struct Reservation: Equatable, Sendable {
        var block: BlockRef
        var meta: ObjectMetadata
        var length: Int
    }

    enum FillAction: Equatable {
        /// Nothing to write (closed, already stored, a hash collision, no drive can take it); act on the cleanup.
        case refuse(Cleanup)
        /// Act on the cleanup, write the block to its file, then report with `fillStored` or `fillFailed`.
        case write(Reservation, Cleanup)
    }

    enum StoredAction {
        /// The block is in the index; act on the cleanup, then compact the journal if asked to.
        case keep(Cleanup, Compaction?)
        /// The object changed or went while the block was written: remove the file just written.
        case discard
    }

    /// A whole block of `meta` arrived from the origin: reserve room for it (evicting what must go).
    mutating func fillArrived(_ meta: ObjectMetadata, id: ObjectID, block index: Int) -> FillAction {
        var cleanup = Cleanup()
        guard !closed else { return .refuse(cleanup) }
        if let existing = entries[id] {
            guard existing.meta.key == meta.key else { return .refuse(cleanup) }  // a collision: not cacheable
            if !existing.meta.sameContent(as: meta) {
                // A fill of an older version that ends after the newer one was stored never replaces it.
                guard meta.freshness.responseTime >= existing.meta.freshness.responseTime else {
                    return .refuse(cleanup)
                }
                drop(id: id, &cleanup)
            } else if existing.blocks[index] != nil {
                return .refuse(cleanup)  // already stored
            }
        }
        let drive: Int
        if let entry = entries[id] {
            drive = entry.drive
        } else {
            guard let chosen = Self.chooseDrive(drives, id: id, length: meta.length) else { return .refuse(cleanup) }
            drive = chosen
            entries[id] = Entry(drive: chosen, meta: meta, serial: nextSerial)
            nextSerial &+= 1
            drives[chosen].objects += 1
            record(.object(id, meta), drive: chosen, &cleanup)
        }
        let length = meta.blockLength(index)
        guard drives[drive].writable, Int64(length) <= drives[drive].drive.capacityBytes else {
            return .refuse(cleanup)
        }
        // Room for the block and the journal line that will name it.
        evict(drive: drive, needed: Int64(length) + Self.recordAllowance, keep: id, &cleanup)
        drives[drive].usedBytes += Int64(length)
        let block = BlockRef(drive: drive, id: id, index: index)
        return .write(Reservation(block: block, meta: meta, length: length), cleanup)
    }

    /// The block's file is written and in place.
    mutating func fillStored(_ reservation: Reservation) -> StoredAction {
        let (drive, id, index) = (reservation.block.drive, reservation.block.id, reservation.block.index)
        guard let entry = entries[id], entry.meta == reservation.meta || entry.meta.sameContent(as: reservation.meta),
            entry.drive == drive
        else {
            drives[drive].usedBytes -= Int64(reservation.length)
            return .discard
        }
        tick += 1
        var cleanup = Cleanup()
        if entry.blocks[index] != nil {
            // Another fill of the same block was stored first; both files had the same bytes and one is in place.
            drives[drive].usedBytes -= Int64(reservation.length)
            entries[id]?.blocks[index] = tick
            return .keep(cleanup, nil)
        }
        entries[id]?.blocks[index] = tick
        drives[drive].blocks += 1
        record(.block(id, index), drive: drive, &cleanup)
        return .keep(cleanup, beginCompaction(drive: drive))
    }

    /// Writing the block failed: its room is given back; a full or read-only drive takes nothing more.
    mutating func fillFailed(_ reservation: Reservation, driveFull: Bool) {
        drives[reservation.block.drive].usedBytes -= Int64(reservation.length)
        if driveFull { drives[reservation.block.drive].writable = false }
    }

    /// Removes an object and all its blocks (its content changed at the origin); with `version`, only when the
    /// stored object is that version.
    mutating func drop(id: ObjectID, key: String, version: ObjectMetadata? = nil) -> Cleanup {
        var cleanup = Cleanup()
        guard let entry = entries[id], entry.meta.key == key else { return cleanup }
        if let version, !entry.meta.sameContent(as: version) { return cleanup }
        drop(id: id, &cleanup)
        return cleanup
    }

    /// The origin confirmed the stored version (a 304): its fields and freshness are replaced, its blocks kept. The
    /// change is journaled when it leaves the object fresh for a while (an object revalidated at every use is not
    /// written at every use).
    mutating func refresh(id: ObjectID, _ meta: ObjectMetadata) -> Cleanup {
        var cleanup = Cleanup()
        guard let entry = entries[id], entry.meta.key == meta.key, entry.meta.sameContent(as: meta) else {
            return cleanup
        }
        entries[id]?.meta = meta
        if meta.freshness.lifetime > 0 || meta.headers != entry.meta.headers {
            record(.refreshed(id, meta), drive: entry.drive, &cleanup)
        }
        return cleanup
    }

    mutating func drop(id: ObjectID, _ cleanup: inout Cleanup) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        var drive = drives[entry.drive]
        for index in entry.blocks.keys {
            drive.usedBytes -= Int64(entry.meta.blockLength(index))
            cleanup.removals.append(BlockRef(drive: entry.drive, id: id, index: index))
        }
        drive.blocks -= entry.blocks.count
        drive.objects -= 1
        drives[entry.drive] = drive
        record(.dropped(id), drive: entry.drive, &cleanup)
    }

    /// The engine stopped: nothing more is stored or journaled; returns the drives whose journals to close.
    mutating func close() -> [Int] {
        closed = true
        for index in drives.indices { drives[index].journalOpen = false }
        return Array(drives.indices)
    }

    // MARK: Status

    func metadata(id: ObjectID, key: String) -> ObjectMetadata? {
        guard let entry = entries[id], entry.meta.key == key else { return nil }
        return entry.meta
    }

    func contains(id: ObjectID, key: String, block index: Int, version: ObjectMetadata? = nil) -> Bool {
        guard let entry = entries[id], entry.meta.key == key else { return false }
        if let version, !entry.meta.sameContent(as: version) { return false }
        return entry.blocks[index] != nil
    }

    func storedBlocks(id: ObjectID, key: String) -> [Int] {
        guard let entry = entries[id], entry.meta.key == key else { return [] }
        return entry.blocks.keys.sorted()
    }

    /// Objects with at least one stored block.
    var objectCount: Int { entries.values.reduce(0) { $0 + ($1.blocks.isEmpty ? 0 : 1) } }

    var driveStatus: [EngineStatus.Drive] {
        drives.map {
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
