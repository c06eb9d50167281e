import CacheNodeCore

/// Everything one setup run will change, computed before anything is touched.
package struct InstallPlan: Sendable {
    /// One file the install writes.
    package struct File: Equatable, Sendable {
        package enum Change: String, Sendable {
            case create
            case update
            case unchanged
        }

        /// The path on disk (below the root).
        package var path: String
        package var content: String
        package var mode: UInt32
        /// What the file is for, shown in the plan.
        package var purpose: String
        package var change: Change
        /// The content it replaces, when it exists.
        package var previous: String?
        /// A secret (the proxy password): never shown in a plan or a diff.
        package var isSecret = false
    }

    /// A command a real install runs (never with `--root`).
    package struct Command: Equatable, Sendable {
        package var step: ApplyStep
        package var arguments: [String]
    }

    package var configuration: NodeConfiguration
    package var layout: InstallLayout
    package var files: [File]
    package var commands: [Command]
    /// The installed configuration this run replaces, when re-running on an installed node.
    package var previous: NodeConfiguration?
    package var cacheHost: String
    /// The names the HTTPS certificate must cover (`engine.https.names`, or the `DOCacheHost` host); empty without
    /// HTTPS.
    package var httpsNames: [String] = []

    /// Settings that change from the installed configuration (empty on a first install).
    package var settingChanges: [SettingChange] {
        previous.map { configuration.changes(from: $0) } ?? []
    }

    package var changedFiles: [File] { files.filter { $0.change != .unchanged } }

    /// A re-run with the same answers: nothing to write and nothing to change.
    package var isNoOp: Bool { previous != nil && changedFiles.isEmpty && settingChanges.isEmpty }
}

/// The steps of an apply, in order, as the wizard's Apply screen and the log name them.
package enum ApplyStep: String, CaseIterable, Sendable {
    case render = "render templates"
    case write = "write files"
    /// Only with `engine.https`: a key and a certificate request when there is no certificate yet.
    case certificate = "HTTPS certificate"
    case network = "network"
    case firewall = "firewall"
    case engine = "start the engine"
    case selfTest = "self-test"
    /// Registers and enrols the node in its hub and has the engine report there (last: an unused key stays usable).
    case hub = "link to the hub"
}
