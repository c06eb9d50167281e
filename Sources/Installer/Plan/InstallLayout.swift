import CacheNodeCore

/// Where an install puts each file; every path is below `root` (`/` for a real install).
package struct InstallLayout: Equatable, Sendable {
    /// `/` for a real install; the demo or test folder with `--root`.
    package var root: String
    /// The state directory as the configuration names it (`/var/lib/cachenode`).
    package var state: String

    package init(root: String, state: String) {
        self.root = PathRules.normalized(root)
        self.state = PathRules.normalized(state)
    }

    package var isRealInstall: Bool { root == "/" }

    /// `path` (as the configuration names it) on this machine.
    package func onDisk(_ path: String) -> String {
        isRealInstall ? PathRules.normalized(path) : PathRules.normalized(root + "/" + path)
    }

    /// A path on disk back to how the configuration names it.
    package func logical(_ diskPath: String) -> String {
        guard !isRealInstall else { return diskPath }
        let normalized = PathRules.normalized(diskPath)
        if normalized == root { return "/" }
        return normalized.hasPrefix(root + "/") ? String(normalized.dropFirst(root.count)) : normalized
    }

    package var stateDirectory: String { onDisk(state) }
    /// The installed configuration, which `cachenode serve --config` reads.
    package var configuration: String { stateDirectory + "/cachenode.yaml" }
    /// The answers of the last install, paths as given, to replay elsewhere.
    package var answers: String { stateDirectory + "/answers.yaml" }
    package var installManifest: String { stateDirectory + "/install-manifest.json" }
    package var deploymentManifest: String { stateDirectory + "/deployment.json" }
    package var policyDirectory: String { stateDirectory + "/policy" }
    package var logDirectory: String { stateDirectory + "/logs" }
    package var engineLog: String { logDirectory + "/engine.log" }
    /// One line per request, written by the engine.
    package var accessLog: String { logDirectory + "/access.log" }
    package var pidFile: String { stateDirectory + "/cachenode.pid" }
    package var lockFile: String { stateDirectory + "/.setup.lock" }
    package var unit: String { onDisk("/etc/systemd/system/cachenode.service") }
    package var firewall: String { onDisk("/etc/nftables.d/cachenode.nft") }
    package var networkdDirectory: String { onDisk("/etc/systemd/network") }
    package var netplanFile: String { onDisk("/etc/netplan/60-cachenode.yaml") }
}
