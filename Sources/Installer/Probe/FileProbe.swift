import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Looks at a file the answers name (a certificate, a key, a chain) as this process can see it.
package enum FileProbe {
    /// PEM files are small: a file larger than this is read only this far for its PEM labels.
    static let readLimit = 1 << 20

    /// Whether `path` is a readable regular file, and the labels of its PEM blocks.
    package static func facts(at path: String) -> FileFacts {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable(FileSystem.reason())
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .notAFile }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .unreadable(FileSystem.reason()) }
        defer { close(fd) }
        guard let bytes = readPrefix(fd) else { return .unreadable(FileSystem.reason()) }
        return .readable(pemLabels: FileFacts.pemLabels(in: String(decoding: bytes, as: UTF8.self)))
    }

    /// Up to `readLimit` bytes from `fd`; `nil` on a read error.
    private static func readPrefix(_ fd: Int32) -> [UInt8]? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < readLimit {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }
}
