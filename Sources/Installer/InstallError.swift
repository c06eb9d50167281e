/// Why an install, reconfiguration, verification or uninstall could not go on.
package enum InstallError: Error, Equatable, Sendable, CustomStringConvertible {
    case template(name: String, problem: String)
    case resource(problem: String)
    case file(path: String, problem: String)
    case nodeNameChanged(installed: String, requested: String)
    case busy(lock: String)
    case command(step: String, problem: String)
    case engine(problem: String)
    case selfTest(problem: String)
    case notInstalled(root: String)
    case injected(step: String)

    package var description: String {
        switch self {
        case let .template(name, problem): "template \(name): \(problem)"
        case let .resource(problem): problem
        case let .file(path, problem): "\(path): \(problem)"
        case let .nodeNameChanged(installed, requested):
            "the node name cannot change: this node is installed as '\(installed)', the answers say '\(requested)' "
                + "(the hub and clients know the node by its name; uninstall and install anew to rename it)"
        case let .busy(lock): "another setup is running (lock \(lock)); wait for it to finish"
        case let .command(step, problem): "\(step): \(problem)"
        case let .engine(problem): "the cache engine: \(problem)"
        case let .selfTest(problem): problem
        case let .notInstalled(root): "no CacheNode install found under \(root)"
        case let .injected(step): "fault injected at \(step)"
        }
    }
}
