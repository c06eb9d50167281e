#if canImport(Glibc)
    import Glibc
#endif

/// The unprivileged system user the engine runs as (created by the package, or by setup when it is missing), and
/// handing it the directories it writes.
package struct ServiceAccount: Sendable, Equatable {
    package static let name = "cachenode"

    package var uid: uid_t
    package var gid: gid_t

    package init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }

    /// The account as the system knows it, or `nil` when there is none.
    package static func lookup() -> ServiceAccount? {
        guard let entry = getpwnam(name) else { return nil }
        return ServiceAccount(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Creates the account as the package's sysusers.d file would: a system user with its own group, no shell,
    /// `home` as its home directory (not created).
    static func create(home: String, runner: any CommandRunning) async throws(InstallError) -> ServiceAccount {
        let result = await runner.run([
            "useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home,
            "--shell", "/usr/sbin/nologin", "--comment", "CacheNode cache engine", name,
        ])
        guard result.status == 0, let account = lookup() else {
            throw .command(step: "write", problem: "useradd \(name) exited \(result.status): \(result.output)")
        }
        return account
    }

    /// An owner and mode to put back on rollback.
    struct Ownership: Sendable {
        var path: String
        var uid: uid_t
        var gid: gid_t
        var mode: mode_t
    }

    static func ownership(of path: String) -> Ownership? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Ownership(path: path, uid: info.st_uid, gid: info.st_gid, mode: info.st_mode & 0o7777)
    }

    static func restore(_ ownership: Ownership) {
        _ = lchown(ownership.path, ownership.uid, ownership.gid)
        _ = chmod(ownership.path, ownership.mode)
    }

    /// Gives `directory` and everything below it to the account, the directory itself with mode 0750. Symbolic links
    /// are changed themselves, never followed. Returns what `directory` had before.
    func take(_ directory: String) throws(InstallError) -> Ownership? {
        let before = Self.ownership(of: directory)
        try own(directory, mode: 0o750)
        try walk(directory)
        return before
    }

    /// Gives `directory` itself (not what is below it) to the account, with mode 0750.
    func takeOnly(_ directory: String) throws(InstallError) -> Ownership? {
        let before = Self.ownership(of: directory)
        try own(directory, mode: 0o750)
        return before
    }

    /// Makes a file written by setup (owned by root) readable by the account's group.
    package func share(_ path: String, mode: mode_t = 0o640) throws(InstallError) {
        guard chown(path, 0, gid) == 0, chmod(path, mode) == 0 else {
            throw .file(path: path, problem: FileSystem.reason())
        }
    }

    /// Gives one file to the account (the registry the engine writes its reports into), keeping its mode.
    func give(_ path: String) throws(InstallError) {
        try own(path, mode: nil)
    }

    private func own(_ path: String, mode: mode_t?) throws(InstallError) {
        guard lchown(path, uid, gid) == 0 else { throw .file(path: path, problem: FileSystem.reason()) }
        if let mode, chmod(path, mode) != 0 { throw .file(path: path, problem: FileSystem.reason()) }
    }

    private func walk(_ directory: String) throws(InstallError) {
        for name in FileSystem.listDirectory(directory) {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if info.st_uid != uid || info.st_gid != gid { try own(path, mode: nil) }
            if (info.st_mode & S_IFMT) == S_IFDIR { try walk(path) }
        }
    }
}
