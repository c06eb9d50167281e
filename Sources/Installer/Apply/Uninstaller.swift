import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Removes an install: stops the engine, removes what the manifest says the installer created, restores
/// what it replaced, and keeps the cache when asked.
package struct Uninstaller: Sendable {
    package var runner: any CommandRunning

    package init(runner: any CommandRunning = SystemCommandRunner()) {
        self.runner = runner
    }

    /// Returns each action taken, for the operator to read.
    package func uninstall(layout: InstallLayout, keepCache: Bool) async throws(InstallError) -> [String] {
        guard let manifest = try InstallManifest.read(layout.installManifest) else {
            throw .notInstalled(root: layout.root)
        }
        var actions: [String] = []
        if layout.isRealInstall {
            _ = await runner.run(["systemctl", "disable", "--now", "cachenode.service"])
            actions.append("stopped and disabled cachenode.service")
            _ = await runner.run(["nft", "delete", "table", "inet", "cachenode"])
            actions.append("removed the nftables table inet cachenode")
        } else if let pid = EngineProcess.running(pidFile: layout.pidFile) {
            EngineProcess.stop(pid: pid)
            actions.append("stopped the engine (pid \(pid))")
        }
        for entry in manifest.files {
            if let backup = entry.backup, let bytes = try FileSystem.contents(backup) {
                try FileSystem.writeAtomically(entry.path, bytes)
                actions.append("restored \(layout.logical(entry.path))")
            } else {
                try FileSystem.remove(entry.path)
                actions.append("removed \(layout.logical(entry.path))")
            }
        }
        if layout.isRealInstall {
            _ = await runner.run(["systemctl", "daemon-reload"])
            actions += await restoreNetwork(layout: layout, files: manifest.files)
        }
        try FileSystem.remove(layout.pidFile)
        try FileSystem.removeTree(layout.stateDirectory + "/backup")
        if keepCache {
            actions.append("kept the cache: " + manifest.drives.map(layout.logical).joined(separator: ", "))
        } else {
            for drive in manifest.drives where FileSystem.isDirectory(drive) {
                for name in FileSystem.listDirectory(drive) { try FileSystem.removeTree(drive + "/" + name) }
                actions.append("emptied \(layout.logical(drive))")
            }
            try FileSystem.removeTree(layout.logDirectory)
            for name in FileSystem.listDirectory(layout.stateDirectory) where name != "policy" {
                try FileSystem.removeTree(layout.stateDirectory + "/" + name)
            }
        }
        let keep = keepCache ? Set(manifest.drives + [layout.stateDirectory]) : []
        for directory in manifest.directories.reversed() where !keep.contains(directory) {
            FileSystem.removeEmptyDirectory(directory)
        }
        return actions
    }

    /// With the network files removed or restored, the live network follows them: the switch setup created goes
    /// (networkd never removes a netdev whose file is gone) and the adapter gets its own configuration back.
    func restoreNetwork(layout: InstallLayout, files: [InstallManifest.Entry]) async -> [String] {
        let network = files.filter {
            $0.path.hasPrefix(layout.networkdDirectory + "/") || $0.path == layout.netplanFile
        }
        guard !network.isEmpty else { return [] }
        var actions: [String] = []
        let reload =
            network.contains { $0.path == layout.netplanFile } ? ["netplan", "apply"] : ["networkctl", "reload"]
        let result = await runner.run(reload)
        actions.append(
            result.status == 0
                ? "reloaded the network: \(reload.joined(separator: " "))"
                : "\(reload.joined(separator: " ")) failed (\(result.output.trimmingCharacters(in: "\n"))); the network follows the restored files at the next reload or boot"
        )
        for entry in network where entry.backup == nil && entry.path.hasSuffix(".netdev") {
            let file = entry.path.split(separator: "/").last.map(String.init) ?? ""
            let name = String(file.dropFirst("60-cachenode-".count).dropLast(".netdev".count))
            guard file.hasPrefix("60-cachenode-"), !name.isEmpty,
                await runner.run(["ip", "link", "show", "dev", name]).status == 0
            else { continue }
            let deleted = await runner.run(["ip", "link", "delete", "dev", name])
            actions.append(
                deleted.status == 0
                    ? "deleted the switch \(name)" : "could not delete the switch \(name): \(deleted.output)"
            )
        }
        return actions
    }
}
