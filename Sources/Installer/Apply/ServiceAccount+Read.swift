import CacheNodeCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ServiceAccount {
    /// Why the account cannot read `path` (symbolic links followed): the first directory on the way it may not enter,
    /// or the file itself; `nil` when it can. Judged from owners, groups and modes as the kernel judges them for an
    /// unprivileged user (access control lists are not read).
    package func cannotRead(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return "\(path): \(FileSystem.reason())" }
        let target = String(cString: resolved)
        free(resolved)
        let groups = Set(supplementaryGroups() + [gid])
        var directories = ["/"]
        for part in target.split(separator: "/").dropLast() {
            directories.append((directories.last == "/" ? "" : directories.last!) + "/" + part)
        }
        for directory in directories {
            guard let info = Self.status(directory) else { return "\(directory): \(FileSystem.reason())" }
            if !permits(info, groups: groups, owner: S_IXUSR, group: S_IXGRP, other: S_IXOTH) {
                return "the service account \(Self.name) may not enter \(directory) (\(Self.describe(info)))"
            }
        }
        guard let info = Self.status(target) else { return "\(target): \(FileSystem.reason())" }
        if !permits(info, groups: groups, owner: S_IRUSR, group: S_IRGRP, other: S_IROTH) {
            return "the service account \(Self.name) may not read \(target) (\(Self.describe(info)))"
        }
        return nil
    }

    private func permits(_ info: stat, groups: Set<gid_t>, owner: mode_t, group: mode_t, other: mode_t) -> Bool {
        if info.st_uid == uid { return info.st_mode & owner != 0 }
        if groups.contains(info.st_gid) { return info.st_mode & group != 0 }
        return info.st_mode & other != 0
    }

    /// The groups the account is a member of beyond its own.
    private func supplementaryGroups() -> [gid_t] {
        guard let entry = getpwuid(uid) else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(entry.pointee.pw_name, gid, &groups, &count) == -1 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(entry.pointee.pw_name, gid, &groups, &count) != -1 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }

    private static func status(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    /// `owner 0, group 113, mode 0710`.
    private static func describe(_ info: stat) -> String {
        "owner \(info.st_uid), group \(info.st_gid), mode 0\(String(info.st_mode & 0o7777, radix: 8))"
    }
}
