import CacheNodeCore

/// One event of the apply step, as the Apply screen shows it.
package enum ApplyProgress: Equatable, Sendable {
    case started(String)
    case finished(String, detail: String)
    /// The step waits for the operator (a network change to confirm).
    case waiting(String, detail: String)
    case failed(String, detail: String)
    case rollingBack
    case rolledBack(problems: [String])
}

/// How the apply step ended, for the Done screen and the exit status.
package enum ApplyOutcome: Equatable, Sendable {
    /// Installed: the `DOCacheHost` value clients need and where the client-policy files are.
    case installed(cacheHost: String, policyDirectory: String, warnings: [String])
    /// Nothing was changed (the plan was empty, or the machine refused before any change).
    case unchanged(message: String, exitCode: Int32)
    /// A step failed; `rolledBack` tells whether every change of the run was undone.
    case failed(step: String?, message: String, exitCode: Int32)

    /// The exit status `cachenode setup` ends with.
    package var exitCode: Int32 {
        switch self {
        case .installed: 0
        case .unchanged(_, let code): code
        case .failed(_, _, let code): code
        }
    }
}

/// The hand-over from the wizard to the installer: the cachenode target implements it on top of `InstallFlow`.
package protocol WizardApplying {
    /// Installs `configuration`, reporting each action as it starts and ends.
    func apply(_ configuration: NodeConfiguration, progress: (ApplyProgress) -> Void) async -> ApplyOutcome

    /// Installs `configuration` with the key or token typed on the hub step (never part of the configuration).
    func apply(_ configuration: NodeConfiguration, hubCredential: HubCredential?, progress: (ApplyProgress) -> Void)
        async -> ApplyOutcome
}

extension WizardApplying {
    package func apply(
        _ configuration: NodeConfiguration,
        hubCredential: HubCredential?,
        progress: (ApplyProgress) -> Void
    ) async -> ApplyOutcome {
        await apply(configuration, progress: progress)
    }
}
