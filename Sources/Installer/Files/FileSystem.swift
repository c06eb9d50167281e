#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// The file operations the installer needs, each reporting the path and the system's reason.
package enum FileSystem {
    package static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    package static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The bytes of a file, or `nil` when it does not exist.
    package static func contents(_ path: String) throws(InstallError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .file(path: path, problem: reason())
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .file(path: path, problem: reason())
            }
            if count == 0 { return bytes }
            bytes += buffer[0..<count]
        }
    }

    /// Creates `path` and its parents; returns the directories it created, outermost first.
    @discardableResult
    package static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(InstallError) -> [String] {
        var created: [String] = []
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if isDirectory(current) { continue }
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw .file(path: current, problem: reason())
            }
            if !isDirectory(current) { throw .file(path: current, problem: "exists and is not a directory") }
            created.append(current)
        }
        return created
    }

    /// Writes through a temporary file, fsync and rename, so readers see the old or the new file, never half.
    package static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(InstallError) {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let temporary = "\(directory)/.\(path.split(separator: "/").last ?? "file").tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .file(path: path, problem: reason()) }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let problem = reason()
                close(fd)
                unlink(temporary)
                throw .file(path: path, problem: problem)
            }
            written += count
        }
        fchmod(fd, mode)
        if fsync(fd) != 0 {
            let problem = reason()
            close(fd)
            unlink(temporary)
            throw .file(path: path, problem: problem)
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let problem = reason()
            unlink(temporary)
            throw .file(path: path, problem: problem)
        }
        let directoryFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    package static func remove(_ path: String) throws(InstallError) {
        if unlink(path) != 0 && errno != ENOENT { throw .file(path: path, problem: reason()) }
    }

    /// Removes an empty directory; a directory that is not empty is left alone.
    package static func removeEmptyDirectory(_ path: String) {
        rmdir(path)
    }

    /// Removes a tree, not following symbolic links.
    package static func removeTree(_ path: String) throws(InstallError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in listDirectory(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 { throw .file(path: path, problem: reason()) }
        } else if unlink(path) != 0 {
            throw .file(path: path, problem: reason())
        }
    }

    package static func listDirectory(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Regular files below `directory`, as relative paths, sorted.
    package static func listFiles(below directory: String) -> [String] {
        var result: [String] = []
        for name in listDirectory(directory) {
            let path = directory + "/" + name
            if isDirectory(path) {
                result += listFiles(below: path).map { name + "/" + $0 }
            } else {
                result.append(name)
            }
        }
        return result.sorted()
    }

    /// `path` made absolute against the current directory, normalised.
    package static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return PathRules.normalized(path) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return PathRules.normalized("/" + path) }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return PathRules.normalized(cwd + "/" + path)
    }

    package static func reason() -> String {
        String(cString: strerror(errno))
    }
}
