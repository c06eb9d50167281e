import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The answers a terminating signal (SIGINT, SIGTERM, SIGHUP) saves: prepared after every change, so the signal
/// handler only writes bytes with async-signal-safe calls (`mkdir`, `open`, `write`, `fsync`, `close`, `rename`).
///
/// Two fixed slots: the handler reads the published one while the next is prepared in the other.
enum InterruptedDraft {
    private static let slotBytes = 1 << 16
    nonisolated(unsafe) private static let slots = UnsafeMutableRawPointer.allocate(
        byteCount: 2 * slotBytes,
        alignment: 8
    )
    private static let published = Atomic<Int>(-1)

    /// Nothing to save yet. Also sets up the slots, which must happen before a handler can run.
    static func disarm() {
        _ = slots
        published.store(-1, ordering: .releasing)
    }

    /// From now on a signal writes `text` to `path` (mode 0600), creating its directories, then prints `notice`.
    static func arm(path: String, text: String, notice: String) {
        // Slot layout: content length, then NUL-terminated path, temporary path, notice, each directory from the
        // outermost, an empty string, then the content.
        var directories: [String] = []
        var parent = ""
        for component in path.split(separator: "/").dropLast() {
            parent += "/" + component
            directories.append(parent)
        }
        let temporary = "\(parent)/.\(path.split(separator: "/").last ?? "draft").signal-\(getpid())"
        var bytes: [UInt8] = []
        for string in [path, temporary, notice] + directories + [""] {
            bytes += Array(string.utf8) + [0]
        }
        let content = Array(text.utf8)
        guard MemoryLayout<Int>.size + bytes.count + content.count <= slotBytes else { return }
        let slot = published.load(ordering: .acquiring) == 0 ? 1 : 0
        let base = slots + slot * slotBytes
        base.storeBytes(of: content.count, as: Int.self)
        let strings = base + MemoryLayout<Int>.size
        bytes.withUnsafeBytes { strings.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        content.withUnsafeBytes { buffer in
            if let address = buffer.baseAddress {
                (strings + bytes.count).copyMemory(from: address, byteCount: buffer.count)
            }
        }
        published.store(slot, ordering: .releasing)
    }

    /// Writes the published answers, if any; returns the notice to print once the terminal is restored.
    /// Called from the signal handler: no allocation, no locks.
    static func writeFromSignalHandler() -> UnsafePointer<CChar>? {
        let slot = published.load(ordering: .acquiring)
        guard slot >= 0 else { return nil }
        let base = slots + slot * slotBytes
        let length = base.load(as: Int.self)
        var cursor = UnsafePointer((base + MemoryLayout<Int>.size).assumingMemoryBound(to: CChar.self))
        let path = cursor
        cursor += strlen(cursor) + 1
        let temporary = cursor
        cursor += strlen(cursor) + 1
        let notice = cursor
        cursor += strlen(cursor) + 1
        while cursor.pointee != 0 {
            mkdir(cursor, 0o755)
            cursor += strlen(cursor) + 1
        }
        var content = UnsafeRawPointer(cursor + 1)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        var left = length
        while left > 0 {
            let count = write(fd, content, left)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(fd)
                unlink(temporary)
                return nil
            }
            content += count
            left -= count
        }
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            return nil
        }
        return notice
    }
}
