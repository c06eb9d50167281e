import CacheProtocol
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin blocking POSIX helpers for the store; callers keep them off event loops.
enum FileIO {
    /// The `errno` of the last failed call, as a store error for `path`.
    static func failure(_ operation: String, _ path: String) -> StoreError {
        .io(operation: operation, path: path, errno: errno)
    }

    static func makeDirectories(_ path: String) throws(StoreError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw failure("mkdir", current) }
        }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The whole file from byte `offset` on, or `nil` when it does not exist.
    static func read(_ path: String, from offset: Int64 = 0) throws(StoreError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw failure("open", path)
        }
        defer { close(fd) }
        if offset > 0 && lseek(fd, off_t(offset), SEEK_SET) < 0 { throw failure("lseek", path) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read", path)
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    /// Writes every byte of `buffers` to `fd`.
    static func writeAll(_ fd: CInt, _ buffers: [ByteBuffer], path: String) throws(StoreError) {
        for buffer in buffers {
            var failed = false
            buffer.withUnsafeReadableBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let count = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if count < 0 {
                        if errno == EINTR { continue }
                        failed = true
                        return
                    }
                    offset += count
                }
            }
            if failed { throw failure("write", path) }
        }
    }

    static func writeAll(_ fd: CInt, _ text: String, path: String) throws(StoreError) {
        try writeAll(fd, [ByteBuffer(string: text)], path: path)
    }

    /// Writes a file atomically: temporary file, fsync, rename.
    static func writeAtomically(_ path: String, _ text: String) throws(StoreError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open", temporary) }
        do throws(StoreError) {
            try writeAll(fd, text, path: temporary)
            guard fsync(fd) == 0 else { throw failure("fsync", temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw failure("rename", path) }
    }

    /// Names in a directory, without `.` and `..`.
    static func list(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a directory tree; errors are ignored (used for dropped caches and temporary files).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Why the store cannot open or write; each names the path and the system error.
package enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case io(operation: String, path: String, errno: Int32)
    case noDrives

    package var description: String {
        switch self {
        case .io(let operation, let path, let code):
            "\(operation) \(path): \(String(cString: strerror(code))); check the drive's permissions and free space"
        case .noDrives:
            "no cache drives are configured: add storage.drives to the configuration"
        }
    }

    /// Whether the error means the drive cannot take more data (full, quota, read-only).
    var isDriveFull: Bool {
        guard case .io(_, _, let code) = self else { return false }
        return code == ENOSPC || code == EDQUOT || code == EROFS
    }
}
