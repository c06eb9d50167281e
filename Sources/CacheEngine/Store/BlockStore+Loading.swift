import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension BlockStore {
    /// A drive as read at start-up: its part of the index and its journal open for appending (-1 when read-only).
    struct LoadedDrive {
        var state: BlockIndex.DriveState
        var journal: CInt
    }

    /// Reads a drive's format and journal into the index, then writes the journal compacted when most of it is history.
    static func load(
        _ configured: Drive,
        number: Int,
        blockSize: Int,
        entries: inout [ObjectID: BlockIndex.Entry],
        logger: Logger
    ) throws(StoreError) -> LoadedDrive {
        var drive = BlockIndex.DriveState(drive: configured)
        let root = configured.path + "/cachenode"
        // A drive mounted read-only still serves what it holds; nothing is written to it.
        var volume = statvfs()
        let readOnly = statvfs(configured.path, &volume) == 0 && volume.f_flag & UInt(ST_RDONLY) != 0
        if readOnly {
            drive.writable = false
            logger.warning(
                "cache drive is read-only; serving what it holds, storing nothing",
                metadata: ["store.drive": "\(configured.path)"]
            )
        } else {
            try FileIO.makeDirectories(root + "/blocks")
            FileIO.removeTree(root + "/tmp")
            try FileIO.makeDirectories(root + "/tmp")
        }
        let format = "cachenode-store 1\nblock_size \(blockSize)\n"
        let prepared = try prepareFormat(
            root: root,
            blockSize: blockSize,
            readOnly: readOnly,
            drive: configured,
            logger: logger
        )
        guard prepared else {
            return LoadedDrive(state: drive, journal: -1)
        }

        try replayJournal(
            root + "/journal",
            into: &drive,
            number: number,
            blockSize: blockSize,
            readOnly: readOnly,
            entries: &entries
        )
        drive.formatBytes = Int64(format.utf8.count)
        var journal: CInt = -1
        if !readOnly {
            // A compaction cut by kill -9 leaves its unfinished file; the journal itself is whole.
            unlink(root + "/journal.compacting")
            journal = Glibc.open(root + "/journal", O_WRONLY | O_APPEND | O_CLOEXEC)
            guard journal >= 0 else { throw FileIO.failure("open", root + "/journal") }
            drive.journalOpen = true
        }
        logger.info(
            "cache drive loaded",
            metadata: [
                "store.drive": "\(configured.path)", "store.objects": "\(drive.objects)",
                "store.used_bytes": "\(drive.usedBytes)",
            ]
        )
        return LoadedDrive(state: drive, journal: journal)
    }

    /// Replays a drive's journal into the index (objects another drive holds stay there), then writes it compacted
    /// when most of it is history, or cuts a record torn by `kill -9`.
    private static func replayJournal(
        _ path: String,
        into drive: inout BlockIndex.DriveState,
        number: Int,
        blockSize: Int,
        readOnly: Bool,
        entries: inout [ObjectID: BlockIndex.Entry]
    ) throws(StoreError) {
        var replay = BlockIndex.Replay(drive: number, blockSize: blockSize)
        let bytes = try FileIO.read(path)
        if let bytes {
            entries.reserveCapacity(entries.count + bytes.count / 160)
            bytes.withUnsafeBufferPointer { replay.read($0) }
        }
        let fileLength = bytes?.count ?? 0
        var live = 0
        for (id, entry) in replay.entries where !entry.blocks.isEmpty && entries[id] == nil {
            for index in entry.blocks.keys { drive.usedBytes += Int64(entry.meta.blockLength(index)) }
            drive.blocks += entry.blocks.count
            drive.objects += 1
            live += 1 + entry.blocks.count
            entries[id] = entry
        }
        if readOnly {
            // Nothing to compact or append to.
        } else if replay.records > 2 * live + 1000 || fileLength == 0 {
            // Mostly evicted or dropped records: rewrite the journal with the live ones, oldest use first.
            let compacted = BlockIndex.liveRecords(
                replay.entries.filter { !$0.value.blocks.isEmpty && entries[$0.key]?.drive == number }
            )
            try FileIO.writeAtomically(path, compacted.text)
            drive.journalBytes = Int64(compacted.text.utf8.count)
            drive.journalRecords = compacted.records
        } else {
            if replay.validLength < fileLength {
                // A record cut by kill -9: drop it so the next append starts on a fresh line.
                guard truncate(path, off_t(replay.validLength)) == 0 else {
                    throw FileIO.failure("truncate", path)
                }
            }
            drive.journalBytes = Int64(replay.validLength)
            drive.journalRecords = replay.records
        }
    }

    /// Checks the drive's format file; a cache built with another block size is set aside and removed in the
    /// background. False when the drive's content cannot be used (read-only with another format).
    private static func prepareFormat(
        root: String,
        blockSize: Int,
        readOnly: Bool,
        drive: Drive,
        logger: Logger
    ) throws(StoreError) -> Bool {
        let format = "cachenode-store 1\nblock_size \(blockSize)\n"
        let formatPath = root + "/format"
        let existing = try FileIO.read(formatPath).map { String(decoding: $0, as: UTF8.self) }
        if readOnly { return existing == format }
        if let existing, existing != format {
            let previous =
                existing.split(separator: "\n").first { $0.hasPrefix("block_size ") }?
                .dropFirst("block_size ".count) ?? "unknown"
            logger.warning(
                "cache block size changed; dropping the content stored with the old block size",
                metadata: [
                    "store.drive": "\(drive.path)", "old.block_size": "\(previous)", "block_size": "\(blockSize)",
                ]
            )
            let aside = root + "/dropped-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            Glibc.rename(root + "/blocks", aside)
            unlink(root + "/journal")
            try FileIO.makeDirectories(root + "/blocks")
            detachRemoval(aside)
        }
        for name in FileIO.list(root) where name.hasPrefix("dropped-") { detachRemoval(root + "/" + name) }
        if existing != format { try FileIO.writeAtomically(formatPath, format) }
        return true
    }
}

extension BlockIndex {
    /// A drive's journal replayed into its part of the index: no file, bytes in.
    struct Replay {
        let drive: Int
        let blockSize: Int
        var entries: [ObjectID: Entry] = [:]
        /// Whole lines read, and the length up to the end of the last one (a line cut by `kill -9` is not counted).
        var records = 0
        var validLength = 0
        private var tick: UInt64 = 0

        init(drive: Int, blockSize: Int) {
            self.drive = drive
            self.blockSize = blockSize
        }

        /// Replays a journal's bytes; each record's position is its use tick, so a replay restores the use order.
        mutating func read(_ buffer: UnsafeBufferPointer<UInt8>) {
            entries.reserveCapacity(buffer.count / 160)
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
                apply(record)
            }
        }

        mutating func apply(_ record: JournalRecord) {
            switch record {
            case .object(let id, let meta):
                entries[id] = Entry(drive: drive, meta: meta)
            case .refreshed(let id, let meta):
                guard let entry = entries[id], entry.meta.key == meta.key, entry.meta.sameContent(as: meta) else {
                    return
                }
                entries[id]?.meta = meta
            case .block(let id, let index):
                // In place, through the index: a copy of the entry for every block line is most of a restart's time.
                guard let position = entries.index(forKey: id),
                    entries.values[position].meta.blockSize == blockSize,
                    index < entries.values[position].meta.blockCount
                else { return }
                entries.values[position].blocks[index] = tick
            case .evicted(let id, let index):
                entries[id]?.blocks[index] = nil
            case .dropped(let id):
                entries[id] = nil
            }
        }
    }
}

/// Removes a dropped cache directory in the background.
private func detachRemoval(_ path: String) {
    Task.detached(priority: .background) { FileIO.removeTree(path) }
}
