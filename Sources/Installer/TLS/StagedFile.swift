#if canImport(Glibc)
    import Glibc
#endif

/// A file written in full beside its destination (same directory, so the rename is atomic), synced, and renamed over
/// the destination only on `commit()`: several files can be made ready before any of them changes.
struct StagedFile {
    var path: String
    var temporary: String

    /// Writes `bytes` to a new temporary file created with `mode` (a key is never readable by others, not even for a
    /// moment) and owned by `owner` when given, then syncs it.
    static func stage(_ bytes: [UInt8], at path: String, mode: mode_t, owner: ServiceAccount?)
        throws(CertificateError) -> StagedFile
    {
        let temporary = TLSFiles.directory(of: path) + "/.\(path.split(separator: "/").last ?? "file").new-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .file(path: path, problem: "cannot create \(temporary): \(FileSystem.reason())") }
        var problem: String?
        var written = 0
        while problem == nil, written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0, errno != EINTR { problem = FileSystem.reason() }
            if count > 0 { written += count }
        }
        if problem == nil, fchmod(fd, mode) != 0 { problem = FileSystem.reason() }
        if problem == nil, let owner, fchown(fd, owner.uid, owner.gid) != 0 { problem = FileSystem.reason() }
        if problem == nil, fsync(fd) != 0 { problem = FileSystem.reason() }
        close(fd)
        if let problem {
            unlink(temporary)
            throw .file(path: path, problem: problem)
        }
        return StagedFile(path: path, temporary: temporary)
    }

    /// Renames the staged file over its destination and syncs the directory, so the rename survives a crash.
    func commit() throws(CertificateError) {
        guard rename(temporary, path) == 0 else {
            let problem = FileSystem.reason()
            discard()
            throw .file(path: path, problem: problem)
        }
        let directory = open(TLSFiles.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    func discard() {
        unlink(temporary)
    }
}
