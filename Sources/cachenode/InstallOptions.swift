import ArgumentParser
import CacheNodeCore
import Installer

/// `--root` and `--state`: where the commands that work on an installed node find it.
struct InstallOptions: ParsableArguments {
    @Option(help: "The root the node was installed under (as given to setup --root).")
    var root: String = "/"

    @Option(help: "The state directory of the install.")
    var state: String = NodeConfiguration.Storage.defaultState

    var layout: InstallLayout { InstallLayout(root: FileSystem.absolute(root), state: state) }

    /// The installed node, or nil when there is none.
    func find() throws(CommandFailure) -> InstalledNode? {
        let resources = try InstallFlow.resources()
        do {
            return try InstalledNode.find(root: FileSystem.absolute(root), state: state, sizing: resources.sizing)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }

    /// The installed node; a clear error when there is none.
    func installed() throws(CommandFailure) -> InstalledNode {
        guard let node = try find() else {
            throw CommandFailure(
                .failure,
                "no CacheNode install found under \(FileSystem.absolute(root)) (state \(state))"
            )
        }
        return node
    }
}
