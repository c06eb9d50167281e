#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore
import Foundation

/// How to put the machine's network back as it was before a setup run: the network files' earlier contents, the
/// switch the run created (systemd-networkd keeps a bridge whose file is gone), and the links to reconfigure.
///
/// A rollback performs it in process; while a network change waits for the operator's confirmation it is also
/// kept in `/run/cachenode` for `cachenode network-revert`, which a timer runs if setup itself is gone.
package struct NetworkRevert: Codable, Equatable, Sendable {
    package struct File: Codable, Equatable, Sendable {
        package var path: String
        /// The content before this run; `nil` when the run created the file.
        package var previous: String?
        package var mode: UInt32

        init(path: String, previous: String?, mode: UInt32) {
            self.path = path
            self.previous = previous
            self.mode = mode
        }

        /// A file a setup run wrote, with what it replaced.
        init(_ written: InstallPlan.File) {
            self.init(path: written.path, previous: written.previous, mode: written.mode)
        }
    }

    /// Every file this run wrote so far (the network files among them), to put back.
    package var files: [File]
    /// Directories this run created, innermost last: removed again.
    package var directories: [String]
    /// The switch this run created, deleted again.
    package var createdSwitch: String?
    /// Links whose configuration changes, reconfigured once the files are back.
    package var links: [String]
    package var usesNetplan: Bool

    package static let directory = "/run/cachenode"
    /// The revert of a network change that waits for confirmation.
    package static let pendingPath = directory + "/network-revert.json"
    /// Written by `cachenode confirm-network`.
    package static let confirmedPath = directory + "/network-confirmed"
    /// The transient timer that reverts the network if setup is gone when the confirmation deadline passes.
    package static let timerUnit = "cachenode-network-revert"

    init(
        files: [File],
        directories: [String],
        configuration: NodeConfiguration,
        existingLinks: Set<String>,
        usesNetplan: Bool
    ) {
        self.files = files
        self.directories = directories
        let network = configuration.network
        let created =
            network.switch.mode == .create && !existingLinks.contains(network.switch.name) ? network.switch.name : nil
        createdSwitch = created
        links = OperatorLink.touchedInterfaces(configuration).filter { $0 != created }
        self.usesNetplan = usesNetplan
    }

    /// Puts back the files and directories, then the network; what `cachenode network-revert` does.
    package func perform(runner: any CommandRunning) async -> [String] {
        await restoreFiles() + reapplyNetwork(runner: runner)
    }

    /// Puts every file back as it was and removes the directories the run created.
    package func restoreFiles() -> [String] {
        Self.restore(files, removing: directories)
    }

    /// Puts `files` back as they were, the last written first, then removes `directories`, innermost first;
    /// returns what could not be undone. A setup run's rollback and `network-revert` both undo this way.
    static func restore(_ files: [File], removing directories: [String]) -> [String] {
        var problems: [String] = []
        for file in files.reversed() {
            do {
                if let previous = file.previous {
                    try FileSystem.writeAtomically(file.path, Array(previous.utf8), mode: mode_t(file.mode))
                } else {
                    try FileSystem.remove(file.path)
                }
            } catch {
                problems.append("\(error)")
            }
        }
        for directory in directories.reversed() {
            do { try FileSystem.removeTree(directory) } catch { problems.append("\(error)") }
        }
        return problems
    }

    /// Makes the network manager apply the network files as they are now, and deletes the switch the run created.
    package func reapplyNetwork(runner: any CommandRunning) async -> [String] {
        var problems: [String] = []
        func run(_ arguments: [String]) async {
            let result = await runner.run(arguments)
            if result.status != 0 {
                problems.append("\(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
            }
        }
        if usesNetplan { await run(["netplan", "generate"]) }
        await run(["networkctl", "reload"])
        if let createdSwitch, FileSystem.exists("/sys/class/net/" + createdSwitch) {
            await run(["ip", "link", "delete", createdSwitch])
        }
        for link in links where FileSystem.exists("/sys/class/net/" + link) {
            await run(["networkctl", "reconfigure", link])
        }
        return problems
    }

    package func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)).map(Array.init) ?? []) + [10]
    }

    package static func pending() throws(InstallError) -> NetworkRevert? {
        guard let bytes = try FileSystem.contents(pendingPath) else { return nil }
        do {
            return try JSONDecoder().decode(NetworkRevert.self, from: Data(bytes))
        } catch {
            throw .file(path: pendingPath, problem: "not a readable network revert: \(error)")
        }
    }
}
