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
/// The index (`BlockIndex`) decides under a lock and returns what to do; the store does the file work outside it:
/// opening blocks, writing them, journal lines, compaction, removals. docs/engine.md (Store layout) has the file
/// layout and how the order of decisions and I/O is kept.
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

    package let blockSize: Int
    let index: Mutex<BlockIndex>
    /// Each drive's `cachenode` directory and journal, in the index's drive order.
    let roots: [String]
    let journals: [JournalFile]
    let logger: Logger

    /// Opens (or creates) the store on `drives`; a cache built with another block size is dropped with a log line.
    package init(drives: [Drive], blockSize: Int, logger: Logger, journalSlack: Int = 100_000) throws(StoreError) {
        guard !drives.isEmpty else { throw .noDrives }
        self.blockSize = blockSize
        self.logger = logger
        var states: [BlockIndex.DriveState] = []
        var descriptors: [CInt] = []
        var entries: [ObjectID: BlockIndex.Entry] = [:]
        do throws(StoreError) {
            for (number, drive) in drives.enumerated() {
                let loaded = try Self.load(
                    drive,
                    number: number,
                    blockSize: blockSize,
                    entries: &entries,
                    logger: logger
                )
                states.append(loaded.state)
                descriptors.append(loaded.journal)
            }
        } catch {
            for descriptor in descriptors where descriptor >= 0 { Glibc.close(descriptor) }
            throw error
        }
        roots = drives.map { $0.path + "/cachenode" }
        journals = zip(roots, descriptors).map { JournalFile(path: $0 + "/journal", descriptor: $1) }
        // Replayed records were numbered from 1 on each drive: later uses must sort after all of them.
        index = Mutex(BlockIndex(drives: states, entries: entries, tick: UInt64(1) << 40, journalSlack: journalSlack))
        for number in drives.indices {
            perform(index.withLock { $0.evictToFit(drive: number) })
        }
    }

    deinit {
        closeJournals()
    }

    /// Closes the journals once the engine has stopped, so the drives hold no file open for writing (an operator can
    /// unmount them or remount them read-only at once); reads still work, nothing more is stored.
    package func closeJournals() {
        for drive in index.withLock({ $0.close() }) {
            journals[drive].descriptor.withLock { descriptor in
                writeJournal(drive: drive, to: descriptor)
                if descriptor >= 0 { Glibc.close(descriptor) }
                descriptor = -1
            }
        }
    }

    // MARK: Reading

    /// The metadata of a cached object, if any of it is stored.
    package func metadata(for key: String) -> ObjectMetadata? {
        let id = ObjectID(key: key)
        return index.withLock { $0.metadata(id: id, key: key) }
    }

    /// Whether block `index` of `key` is stored (of `version`, when given).
    package func contains(key: String, block number: Int, version: ObjectMetadata? = nil) -> Bool {
        let id = ObjectID(key: key)
        return index.withLock { $0.contains(id: id, key: key, block: number, version: version) }
    }

    /// Opens a stored block (of `version`, when given) and marks it used; `nil` when it is not stored or its file is
    /// not whole.
    package func open(key: String, block number: Int, version: ObjectMetadata? = nil) -> OpenBlock? {
        let id = ObjectID(key: key)
        guard case .check(let check) = index.withLock({ $0.lookup(id: id, key: key, block: number, version: version) })
        else {
            return nil
        }
        let fd = Glibc.open(path(check.block), O_RDONLY | O_CLOEXEC)
        var info = stat()
        let whole = fd >= 0 && fstat(fd, &info) == 0 && Int(info.st_size) == check.length
        switch index.withLock({ $0.blockChecked(check, whole: whole) }) {
        case .serve:
            return OpenBlock(handle: NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd), length: check.length)
        case .refuse(let cleanup):
            if fd >= 0 { Glibc.close(fd) }
            perform(cleanup)
            return nil
        }
    }

    // MARK: Writing

    /// Stores one whole block of an object (blocking I/O); false when it was not stored (disk full, drive
    /// read-only, a hash collision). An object whose ETag or length changed is dropped first, never mixed.
    @discardableResult
    package func store(_ meta: ObjectMetadata, block number: Int, chunks: [ByteBuffer]) -> Bool {
        let id = ObjectID(key: meta.key)
        guard meta.blockSize == blockSize, number >= 0, number < meta.blockCount,
            chunks.reduce(0, { $0 + $1.readableBytes }) == meta.blockLength(number)
        else { return false }

        let reservation: BlockIndex.Reservation
        switch index.withLock({ $0.fillArrived(meta, id: id, block: number) }) {
        case .refuse(let cleanup):
            perform(cleanup)
            return false
        case .write(let reserved, let cleanup):
            perform(cleanup)
            reservation = reserved
        }
        let path = path(reservation.block)
        do throws(StoreError) {
            try Self.writeBlock(path: path, temporaryDirectory: roots[reservation.block.drive] + "/tmp", chunks: chunks)
        } catch {
            index.withLock { $0.fillFailed(reservation, driveFull: error.isDriveFull) }
            logger.warning(
                "cache write failed; serving from the origin without storing",
                metadata: ["store.path": "\(path)", "error": "\(error)"]
            )
            return false
        }
        switch index.withLock({ $0.fillStored(reservation) }) {
        case .discard:
            unlink(path)
            return false
        case .keep(let cleanup, let compaction):
            perform(cleanup)
            if let compaction { compact(compaction) }
            return true
        }
    }

    /// Removes an object and all its blocks (its content changed at the origin); with `version`, only when the stored
    /// object is that version (a newer one stored meanwhile stays).
    package func drop(key: String, version: ObjectMetadata? = nil) {
        let id = ObjectID(key: key)
        perform(index.withLock { $0.drop(id: id, key: key, version: version) })
    }

    /// Replaces the fields and freshness of the stored version of `meta`'s object (after a 304); blocks are kept.
    package func refresh(_ meta: ObjectMetadata) {
        let id = ObjectID(key: meta.key)
        perform(index.withLock { $0.refresh(id: id, meta) })
    }

    // MARK: Status

    /// Objects with at least one stored block.
    package var objectCount: Int { index.withLock { $0.objectCount } }

    /// Each drive's use, for `/status`.
    package func driveStatus() -> [EngineStatus.Drive] {
        index.withLock { $0.driveStatus }
    }

    /// The blocks of `key` that are stored (for tests).
    package func storedBlocks(key: String) -> [Int] {
        let id = ObjectID(key: key)
        return index.withLock { $0.storedBlocks(id: id, key: key) }
    }

    // MARK: Acting

    /// Does what an event left to do, outside the index lock: journal lines first, then file removals.
    func perform(_ cleanup: BlockIndex.Cleanup) {
        for drive in cleanup.journals { writeJournal(drive: drive) }
        for block in cleanup.removals { unlink(path(block)) }
    }

    func path(_ block: BlockIndex.BlockRef) -> String {
        Self.blockPath(roots[block.drive], block.id, block.index)
    }

    static func blockPath(_ root: String, _ id: ObjectID, _ index: Int) -> String {
        let name = id.description
        return "\(root)/blocks/\(name.prefix(2))/\(name).\(index)"
    }

    /// Writes a block to a temporary file, fsyncs it and renames it into place.
    private static func writeBlock(path: String, temporaryDirectory: String, chunks: [ByteBuffer]) throws(StoreError) {
        let name = path.split(separator: "/").last!
        let temporary = "\(temporaryDirectory)/\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.failure("open", temporary) }
        do throws(StoreError) {
            try FileIO.writeAll(fd, chunks, path: temporary)
            guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
            Glibc.close(fd)
        } catch {
            Glibc.close(fd)
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
}
