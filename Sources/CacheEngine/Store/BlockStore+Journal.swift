import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A drive's open journal. Its lock orders the writes: whoever holds it takes the lines pending in the index and
/// writes them, so lines reach the file in the order the index decided them. It is never taken while the index lock
/// is held (the other way round is how lines are taken).
final class JournalFile: Sendable {
    let path: String
    /// The journal open for appending; -1 once closed (or on a read-only drive).
    let descriptor: Mutex<CInt>

    init(path: String, descriptor: CInt) {
        self.path = path
        self.descriptor = Mutex(descriptor)
    }
}

extension BlockStore {
    /// Writes the drive's pending journal lines; when it returns, every line decided before the call is in the file
    /// (written by this call or by the one that held the journal before it).
    func writeJournal(drive: Int) {
        journals[drive].descriptor.withLock { writeJournal(drive: drive, to: $0) }
    }

    /// Writes the drive's pending lines to `descriptor`; the caller holds the drive's journal lock.
    func writeJournal(drive: Int, to descriptor: CInt) {
        guard let batch = index.withLock({ $0.takeJournal(drive: drive) }) else { return }
        do throws(StoreError) {
            guard descriptor >= 0 else { throw .io(operation: "write", path: journals[drive].path, errno: EBADF) }
            try FileIO.writeAll(descriptor, batch.text, path: journals[drive].path)
        } catch {
            index.withLock { $0.journalFailed(drive: drive, batch) }
        }
    }

    /// Rewrites a drive's journal with its live records only, once most of its lines are history: a node that runs
    /// for months keeps a journal the size of its index, not of its past, and restarts as fast as on its first day.
    ///
    /// The live records are written from the snapshot, with no lock held (stores and hits go on); then, holding the
    /// drive's journal lock (appends wait, the index does not), the lines written since the snapshot are copied after
    /// them and the new journal is renamed into place. Either file, the old or the new, replays to the same index; an
    /// error leaves the old one as it was.
    func compact(_ compaction: BlockIndex.Compaction) {
        let drive = compaction.drive
        let journalPath = journals[drive].path
        let temporary = journalPath + ".compacting"
        // Objects without a stored block keep their line too: a block being written now is named after them.
        let live = BlockIndex.liveRecords(compaction.snapshot.filter { $0.value.drive == drive }, withoutBlocks: true)
        do throws(StoreError) {
            let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileIO.failure("open", temporary) }
            defer { Glibc.close(fd) }
            try FileIO.writeAll(fd, live.text, path: temporary)
            guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
            try journals[drive].descriptor.withLock { (journal: inout CInt) throws(StoreError) in
                writeJournal(drive: drive, to: journal)
                guard let swap = index.withLock({ $0.compactionSwapping(drive: drive) }) else {
                    unlink(temporary)
                    return
                }
                let tail = try FileIO.read(journalPath, from: compaction.offset) ?? []
                try FileIO.writeAll(fd, [ByteBuffer(bytes: tail)], path: temporary)
                guard fsync(fd) == 0 else { throw FileIO.failure("fsync", temporary) }
                guard Glibc.rename(temporary, journalPath) == 0 else { throw FileIO.failure("rename", journalPath) }
                let reopened = Glibc.open(journalPath, O_WRONLY | O_APPEND | O_CLOEXEC)
                let failure = FileIO.failure("open", journalPath)
                Glibc.close(journal)
                journal = reopened
                let records = live.records + tail.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                let bytes = Int64(live.text.utf8.count + tail.count)
                let finished = reopened >= 0
                index.withLock {
                    $0.compactionFinished(drive: drive, bytes: bytes, records: records, swap: swap, reopened: finished)
                }
                if reopened < 0 { throw failure }
            }
        } catch {
            unlink(temporary)
            index.withLock { $0.compactionFailed(drive: drive) }
            logger.warning(
                "cache journal compaction failed; keeping the journal as it is",
                metadata: ["store.path": "\(journalPath)", "error": "\(error)"]
            )
        }
    }
}
