import CacheNodeCore

/// What a cache drive directory holds before setup hands it to the service.
package enum DriveDirectory {
    /// Entries a directory may hold and still be taken as a cache drive: the cache itself, and the `lost+found` of a
    /// freshly made file system mounted there.
    static let acceptedEntries: Set<String> = ["cachenode", "lost+found"]

    /// Drives new to this configuration whose directory holds files that are not a CacheNode cache: setup would hand
    /// them to the service (and uninstall would empty them), so they are refused.
    package static func problems(
        _ configuration: NodeConfiguration,
        layout: InstallLayout,
        previous: NodeConfiguration?
    ) -> [ConfigurationIssue] {
        let known = Set(previous?.storage.drives.map { PathRules.normalized($0.path) } ?? [])
        var issues: [ConfigurationIssue] = []
        for (index, drive) in configuration.storage.drives.enumerated()
        where !known.contains(PathRules.normalized(drive.path)) {
            let path = layout.onDisk(drive.path)
            guard FileSystem.isDirectory(path) else {
                if FileSystem.exists(path) {
                    issues.append(
                        .init(
                            "storage.drives[\(index)].path",
                            "\(drive.path) is a file, not a directory",
                            hint: "a directory of its own"
                        )
                    )
                }
                continue
            }
            let foreign = FileSystem.listDirectory(path).filter { !acceptedEntries.contains($0) }.sorted()
            guard !foreign.isEmpty else { continue }
            let shown =
                foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", and \(foreign.count - 3) more" : "")
            issues.append(
                .init(
                    "storage.drives[\(index)].path",
                    "\(drive.path) is not empty and holds no CacheNode cache (\(shown))",
                    hint: "an empty directory, a new file system, or an earlier CacheNode cache"
                )
            )
        }
        return issues
    }
}
