import CacheNodeCore

/// Runs a wizard on the terminal: draw, read a key, act, until the operator finishes or quits.
@MainActor
package enum WizardSession {
    /// How the session ended.
    package enum Result: Equatable, Sendable {
        /// The operator quit; the answers to keep, when the run got far enough for them to matter.
        case quit(keep: String?)
        /// A dry run ended on Review: the answers, nothing installed.
        case finished(NodeConfiguration)
        /// The apply step ran and ended with this outcome; the answers to keep if it failed.
        case applied(NodeConfiguration, ApplyOutcome, keep: String?)
    }

    /// Opens the terminal, runs `wizard`, and restores the terminal on every way out. While it runs, SIGINT, SIGTERM
    /// and SIGHUP save the answers at `context.draftPath` and print `keptNotice` of them.
    /// `beforeApply` runs just before the install (to save the answers); `applier` installs.
    package static func run(
        _ wizard: Wizard,
        applier: any WizardApplying,
        keptNotice: (String) -> String = { _ in "" },
        beforeApply: (NodeConfiguration) -> Void = { _ in }
    ) async throws(TerminalError) -> Result {
        let terminal = try Terminal()
        defer { terminal.close() }
        var wizard = wizard
        let (cols, rows) = terminal.size
        _ = wizard.handle(.resize(cols: cols, rows: rows))
        var applied: NodeConfiguration?
        var kept: String?
        var needsDraw = true
        while true {
            if needsDraw {
                // After every key: what a signal would save from now on.
                let answers = wizard.draftAnswers
                if answers != kept, let path = wizard.context.draftPath {
                    terminal.keepOnSignal(answers, at: path, notice: answers.map(keptNotice) ?? "")
                    kept = answers
                }
                terminal.draw(WizardRenderer.render(wizard))
            }
            guard let key = terminal.readKey() else {
                needsDraw = false
                continue
            }
            needsDraw = true
            switch wizard.handle(key) {
            case .none:
                continue
            case .quit:
                return .quit(keep: wizard.draftAnswers)
            case .finish(let configuration):
                return .finished(configuration)
            case .apply(let configuration):
                beforeApply(configuration)
                applied = configuration
                terminal.draw(WizardRenderer.render(wizard))
                let outcome = await applier.apply(configuration, hubCredential: wizard.draft.hubCredentialGiven) {
                    progress in
                    wizard.record(progress)
                    terminal.draw(WizardRenderer.render(wizard))
                }
                wizard.finishApply(outcome)
            case .checkNetwork(let configuration):
                wizard.message = "Checking the network; each check gives up after a few seconds..."
                terminal.draw(WizardRenderer.render(wizard))
                let results = wizard.context.checkNetwork?(configuration) ?? []
                wizard.message = nil
                _ = wizard.recordNetworkChecks(results, for: configuration)
            case .checkHub(let request):
                terminal.draw(WizardRenderer.render(wizard))
                let result = await wizard.context.checkHub?(request) ?? HubCheckResult()
                wizard.message = nil
                _ = wizard.recordHubCheck(result, for: request)
            case .exit(let outcome):
                guard let applied else { return .quit(keep: nil) }
                let failed = if case .failed = outcome { true } else { false }
                return .applied(applied, outcome, keep: failed ? wizard.draftAnswers : nil)
            }
        }
    }
}
