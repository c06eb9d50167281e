#if canImport(Glibc)
    import Glibc
#endif

/// Why a text file could not be read.
package enum TextFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case tooLarge(path: String, bytes: Int64, limit: Int)
    case notText(path: String)
    case notAFile(path: String)

    package var description: String {
        switch self {
        case let .cannotOpen(path, reason): "\(path): cannot read: \(reason)"
        case let .tooLarge(path, bytes, limit): "\(path): \(bytes) bytes is too large (at most \(limit))"
        case let .notText(path): "\(path): not UTF-8 text"
        case let .notAFile(path): "\(path): not a regular file"
        }
    }
}

/// Small text files read whole, refusing what is too large or not text before it reaches a parser.
package enum TextFile {
    package static func read(_ path: String, limit: Int = 4 << 20) throws(TextFileError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .notAFile(path: path) }
        guard info.st_size <= limit else { throw .tooLarge(path: path, bytes: Int64(info.st_size), limit: limit) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > limit { throw .tooLarge(path: path, bytes: Int64(bytes.count), limit: limit) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notText(path: path) }
        return text
    }
}
