import CacheNodeCore

/// Runs a wizard on the terminal: draw, read a key, act, until the operator finishes or quits.
@MainActor
package enum WizardSession {
    /// How the session ended.
    package enum Result: Equatable, Sendable {
        case quit
        /// A dry run ended on Review: the answers, nothing installed.
        case finished(NodeConfiguration)
        /// The apply step ran and ended with this outcome.
        case applied(NodeConfiguration, ApplyOutcome)
    }

    /// Opens the terminal, runs `wizard`, and restores the terminal on every way out.
    /// `beforeApply` runs just before the install (to save the answers); `applier` installs.
    package static func run(
        _ wizard: Wizard,
        applier: any WizardApplying,
        beforeApply: (NodeConfiguration) -> Void = { _ in }
    ) throws(TerminalError) -> Result {
        let terminal = try Terminal()
        defer { terminal.close() }
        var wizard = wizard
        let (cols, rows) = terminal.size
        _ = wizard.handle(.resize(cols: cols, rows: rows))
        var applied: NodeConfiguration?
        var needsDraw = true
        while true {
            if needsDraw { terminal.draw(WizardRenderer.render(wizard)) }
            guard let key = terminal.readKey() else {
                needsDraw = false
                continue
            }
            needsDraw = true
            switch wizard.handle(key) {
            case .none:
                continue
            case .quit:
                return .quit
            case .finish(let configuration):
                return .finished(configuration)
            case .apply(let configuration):
                beforeApply(configuration)
                applied = configuration
                terminal.draw(WizardRenderer.render(wizard))
                let outcome = applier.apply(configuration) { progress in
                    wizard.record(progress)
                    terminal.draw(WizardRenderer.render(wizard))
                }
                wizard.finishApply(outcome)
            case .exit(let outcome):
                guard let applied else { return .quit }
                return .applied(applied, outcome)
            }
        }
    }
}
