import ArgumentParser
import CacheNodeCore
import Installer
import Management
import WizardUI

#if canImport(Glibc)
    import Glibc
#endif

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Install or reconfigure this cache node: the wizard on a terminal, or an answer file.",
        discussion: """
            On a terminal, a full-screen wizard walks through every decision; --answers FILE installs the same \
            way without questions. A re-run on an installed node starts from its current values and shows each \
            change before applying it. A wizard run that fails, is cancelled or is cut off by a signal keeps its \
            answers in <state>/setup-draft.yaml (mode 0600, below --root when given); the next run offers to start \
            from them. Exit status: 0 installed, 2 invalid answers or usage, 3 the host fails a blocking check, \
            4 applying failed and was rolled back.
            """
    )

    @Option(help: "Install under DIR and change nothing else on the machine (no network, firewall or service manager).")
    var root: String?

    @Option(help: "Install from this answer file, without the wizard.")
    var answers: String?

    @Flag(help: "Show the plan and change nothing (with the wizard: write the answers, install nothing).")
    var dryRun = false

    @Flag(help: "Do not ask before reconfiguring an installed node.")
    var yes = false

    @Option(help: "Save the answers to FILE, an answer file that `setup --answers FILE` replays.")
    var writeAnswers: String?

    @Option(
        help:
            "The origin the self-test fetches through the node, as HOST[:PORT] (a local mirror on an offline network)."
    )
    var selfTestOrigin: String = SelfTest.defaultOrigin

    @Option(help: "A hub service on another machine to join (hub.url of the answers), as https://HOST:PORT.")
    var hubURL: String?

    @Option(
        help: ArgumentHelp(
            "The hub service's admin token: setup creates this node there and enrols it.",
            discussion: "Other users can see command lines: prefer CACHENODE_HUB_TOKEN, or hub.admin_token_file (0600)."
        )
    )
    var hubToken: String?

    @Option(help: "The hub certificate's SHA-256 fingerprint (`cachenode hub info` on the hub), with --hub-url.")
    var hubFingerprint: String?

    @Option(help: "A CA file (PEM) that issued the hub's certificate, instead of --hub-fingerprint.")
    var hubCa: String?

    /// How --hub-url's certificate is trusted.
    func hubTrust() throws(CommandFailure) -> HubTrust {
        do { return try HubTrust.from(fingerprint: hubFingerprint, caFile: hubCa) } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
    }

    @Option(
        help: ArgumentHelp(
            "Seconds a network change that carries your own connection waits to be confirmed before it is put back.",
            discussion: "Confirm with Enter on setup's terminal, or `cachenode confirm-network` from a new session.",
            valueName: "seconds"
        )
    )
    var networkConfirmTimeout: Int = 120

    @Flag(help: "Keep a network change that carries your own connection without waiting for a confirmation.")
    var noNetworkConfirm = false

    @Option(
        help: ArgumentHelp(
            "The address the engine listens on for clients (engine.listen), as ADDRESS:PORT, for the wizard.",
            discussion: """
                A new install proposes it; a re-run replaces the installed one with it, and Review shows the change. \
                With --answers the answer file sets the address: a different value is refused.
                """,
            valueName: "address:port"
        )
    )
    var listen: String?

    @Option(
        help: ArgumentHelp(
            "The admin listener's address (engine.admin: /health, /status, /metrics), as --listen is the engine's.",
            valueName: "address:port"
        )
    )
    var adminListen: String?

    @Option(help: .hidden)
    var hostRoot: String = "/"

    func validate() throws {
        if hubToken != nil && hubURL == nil && answers == nil {
            throw ValidationError("--hub-token needs --hub-url")
        }
        guard (10...3600).contains(networkConfirmTimeout) else {
            throw ValidationError("--network-confirm-timeout: \(networkConfirmTimeout) is not 10 to 3600 seconds")
        }
        if let problem = Self.addressFlagProblem(listen: listen, admin: adminListen) {
            throw ValidationError(problem)
        }
    }

    var flow: InstallFlow {
        InstallFlow(
            root: FileSystem.absolute(root ?? "/"),
            dryRun: dryRun,
            assumeYes: yes,
            selfTestOrigin: selfTestOrigin,
            hostRoot: hostRoot,
            networkConfirmSeconds: noNetworkConfirm ? nil : networkConfirmTimeout
        )
    }

    func run() async throws {
        if let answers {
            try await runAnswerFile(answers)
            return
        }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw CommandFailure(.invalid, "setup: no terminal for the wizard; install without one with --answers FILE")
        }
        let term = getenv("TERM").map { String(cString: $0) }
        if let problem = await MainActor.run(body: { Terminal.unsupported(term: term) }) {
            throw CommandFailure(.invalid, "setup: \(problem)")
        }
        try await runWizard()
    }

    /// Where a wizard run that does not finish keeps its answers, and where the next run looks for them.
    private func draft(installed: InstalledNode?) -> SetupDraft {
        let state = installed?.configuration.storage.state ?? NodeConfiguration.Storage.defaultState
        return SetupDraft(layout: InstallLayout(root: flow.root, state: state))
    }

    /// The non-interactive install: every problem of the file at once (exit 2), then the install flow.
    private func runAnswerFile(_ file: String) async throws {
        let sizing = try ResourceLocator.sizingTable()
        var configuration = try AnswerFileInput.load(file, sizing: sizing)
        if let conflict = answerFileConflict(configuration, file: file) { throw CommandFailure(.invalid, conflict) }
        try HubSecret.fold(url: hubURL, fingerprint: hubFingerprint, caFile: hubCa, into: &configuration.hub)
        let issues = configuration.validate(sizing: sizing).filter { $0.keyPath.hasPrefix("hub.") }
        if !issues.isEmpty {
            throw CommandFailure(.invalid, issues.map { "--hub-url: \($0)" }.joined(separator: "\n"))
        }
        try saveAnswers(configuration)
        var flow = self.flow
        flow.hubCredential = try HubSecret.credential(for: configuration.hub, token: hubToken)
        try await flow.run(configuration, confirm: { _ in askYesNo("Apply these changes?") })
        guard !dryRun else { return }
        // Installed: answers an earlier wizard run kept are done with (the wizard looks in the default state).
        draft(installed: nil).remove()
    }

    /// The wizard: probe, ask, then install through the same flow as answer files.
    private func runWizard() async throws {
        var flow = self.flow
        // A key or token typed on the hub step comes first; else --hub-token or the environment.
        flow.hubCredential = try HubSecret.credential(for: .unlinked, token: hubToken)
        let sizing = try ResourceLocator.sizingTable()
        let installed = try flow.installed(state: NodeConfiguration.Storage.defaultState, sizing: sizing)
        let draft = self.draft(installed: installed)
        let layout = draft.layout
        let probe = SystemHostProbe(root: hostRoot)
        let isTrial = !layout.isRealInstall
        // The port test of the address the engine is to listen on: not the installed engine's own, which it holds.
        let tested =
            installed == nil
            ? WizardContext.proposedListen(given: listen, isTrial: isTrial)
            : listen.flatMap { $0 == installed?.configuration.engine.listen ? nil : $0 }
        let facts = probe.facts(storagePath: layout.stateDirectory, listen: tested)
        let (hubs, nodesByHub) = try knownHubs(layout: layout)
        let prefill = hubURL.map { url in
            HubServicePrefill(
                url: url,
                certificate: hubFingerprint ?? hubCa.map(FileSystem.absolute) ?? "",
                adminToken: hubToken
            )
        }
        let context = WizardContext(
            facts: facts,
            check: HostCheck(facts: facts, sizing: sizing),
            sizing: sizing,
            hubs: hubs,
            nodesByHub: nodesByHub,
            installed: installed?.configuration,
            isTrial: isTrial,
            isDryRun: dryRun,
            measure: { path in probe.facts(storagePath: layout.onDisk(path), listen: nil).storage },
            // A dry run changes nothing, so it keeps no answers; it still offers answers an earlier run kept.
            savedAnswers: draft.load(),
            draftPath: dryRun ? nil : draft.path,
            checkNetwork: { configuration in
                // A trial changes no network: only what concerns its clients is checked, and no probe leaves this
                // machine. A real install probes the address, gateway, DNS servers and proxy it is about to use.
                guard !isTrial else { return [NetworkChecker.listenPort(configuration.engine.listen)] }
                let password = getenv(ProxySecret.environmentVariable).map { String(cString: $0) }
                return NetworkChecker().run(
                    configuration,
                    facts: probe.facts(storagePath: "/", listen: nil),
                    proxyPassword: password
                )
            },
            hubService: prefill,
            checkHub: { request in await Self.checkHub(request) },
            hostName: currentHostName(),
            inspectFile: Self.certificateFileFacts(layout),
            givenListen: listen,
            givenAdmin: adminListen
        )
        if let clash = clashWithKeptAddress(context) { throw CommandFailure(.invalid, "setup: \(clash)") }
        let writeAnswers = self.writeAnswers
        let result: Result<WizardSession.Result, any Error>
        do {
            result = .success(
                try await WizardSession.run(
                    Wizard(context: context),
                    applier: WizardInstaller(flow: flow),
                    keptNotice: { text in "setup stopped. " + draft.notice(for: text, sizing: sizing) }
                ) { configuration in
                    if let writeAnswers { try? Self.write(configuration, to: writeAnswers) }
                    // The answers are being installed: a failure keeps them anew, a success leaves no draft.
                    draft.remove()
                }
            )
        } catch {
            result = .failure(error)
        }
        switch result {
        case .failure(let error):
            throw CommandFailure(.invalid, "setup: \(error)")
        case .success(.quit(let kept)):
            let note = kept.map { "\n" + draft.keep($0, sizing: sizing) } ?? ""
            throw CommandFailure(.failure, "setup was cancelled; nothing was changed" + note)
        case .success(.finished(let configuration)):
            try saveAnswers(configuration)
            try await flow.run(configuration, confirm: { _ in false })
        case .success(.applied(let configuration, let outcome, let kept)):
            if let writeAnswers { print("Answers written to \(writeAnswers)") }
            switch outcome {
            case let .installed(cacheHost, policyDirectory, _):
                print("Node \(configuration.node.name) is installed\(isTrial ? " under \(flow.root)" : "").")
                print("Point clients at it: DOCacheHost = \(cacheHost)")
                print("Client policy files: \(policyDirectory)")
                if configuration.hub.mode != .unlinked {
                    let place = configuration.hub.url ?? "this machine"
                    print("Hub: \(configuration.hub.name) at \(place); `cachenode status` shows the reports.")
                }
                let layout = InstallLayout(root: flow.root, state: configuration.storage.state)
                for line in HTTPSSetup.notices(configuration, previous: installed?.configuration, layout: layout) {
                    print(line)
                }
            case .unchanged(let message, _):
                print(message)
            case let .failed(_, message, code):
                let note = kept.map { "\n" + draft.keep($0, sizing: sizing) } ?? ""
                throw CommandFailure(CommandFailure.Code(rawValue: code) ?? .failure, message + note)
            }
        }
    }

    /// Writes the answers when `--write-answers` asks for them.
    private func saveAnswers(_ configuration: NodeConfiguration) throws(CommandFailure) {
        guard let writeAnswers else { return }
        try Self.write(configuration, to: writeAnswers)
        print("Answers written to \(writeAnswers)")
    }

    /// Writes an answer file; a proxy password typed in the wizard or given in the URL stays out of it.
    static func write(_ configuration: NodeConfiguration, to path: String) throws(CommandFailure) {
        var configuration = configuration
        var header = "CacheNode answers, written by `cachenode setup`.\nReplay with: cachenode setup --answers FILE"
        if let proxy = configuration.engine.upstreamProxy, ProxyURL(proxy)?.password != nil {
            configuration.engine.upstreamProxy = ProxyURL.removingPassword(proxy)
            header +=
                "\nThe upstream proxy password is not in this file: "
                + "give it in \(ProxySecret.environmentVariable) when replaying."
        }
        let text = AnswerFile.emit(configuration, header: header)
        do {
            try FileSystem.writeAtomically(FileSystem.absolute(path), Array(text.utf8))
        } catch {
            throw CommandFailure(.failure, "cannot write the answers to \(path): \(error)")
        }
    }

    /// The hubs on this machine to offer, and their nodes (a hub service's are listed on the hub step).
    private func knownHubs(layout: InstallLayout) throws -> ([String], [String: [String]]) {
        let path = layout.stateDirectory + "/registry.sqlite"
        guard FileSystem.exists(path) else { return ([], [:]) }
        do {
            let registry = try Registry(path: path)
            let hubs = try registry.hubs().map(\.name)
            let nodes = Dictionary(grouping: try registry.nodes(), by: \.hub).mapValues { $0.map(\.name) }
            return (hubs, nodes)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }

    /// The hub step's check at once: the service answers, its certificate is the pinned one (no secret is sent before
    /// that), and an admin token lists its hubs. A one-time key is never sent: it works once, at the install.
    static func checkHub(_ request: HubCheckRequest) async -> HubCheckResult {
        let trust: HubTrust
        do {
            trust = try HubTrust.from(fingerprint: request.fingerprint, caFile: request.caFile)
        } catch {
            return HubCheckResult(trustProblem: "\(error)")
        }
        let client = HubClient(baseURL: request.url, token: request.adminToken, timeout: .seconds(5), trust: trust)
        do throws(HubClient.Failure) {
            try await client.checkReachable()
        } catch .untrusted(let reason) {
            return HubCheckResult(trustProblem: reason)
        } catch {
            return HubCheckResult(urlProblem: "\(error)")
        }
        guard request.adminToken != nil else { return HubCheckResult() }
        do throws(HubClient.Failure) {
            let hubs = try await client.hubs().map(\.name)
            var nodes: [String: [String]] = [:]
            for hub in hubs { nodes[hub] = try await client.nodes(hub: hub).map(\.name) }
            return HubCheckResult(hubs: hubs, nodesByHub: nodes)
        } catch .refused(status: 401, _) {
            return HubCheckResult(secretProblem: "the hub service refused this admin token")
        } catch {
            return HubCheckResult(urlProblem: "\(error)")
        }
    }
}

/// The wizard's apply step on top of the install flow: the same check, plan and apply as answer files.
struct WizardInstaller: WizardApplying {
    var flow: InstallFlow

    func apply(_ configuration: NodeConfiguration, progress: (ApplyProgress) -> Void) async -> ApplyOutcome {
        await apply(configuration, hubCredential: nil, progress: progress)
    }

    func apply(_ configuration: NodeConfiguration, hubCredential: HubCredential?, progress: (ApplyProgress) -> Void)
        async -> ApplyOutcome
    {
        var flow = self.flow
        if let hubCredential { flow.hubCredential = hubCredential }
        var configuration = configuration
        // A self-test origin the operator named (a local mirror) must be fetchable: it joins extra_origins.
        if flow.selfTestOrigin != SelfTest.defaultOrigin {
            let host = Self.host(of: flow.selfTestOrigin)
            if !configuration.engine.extraOrigins.contains(host) { configuration.engine.extraOrigins.append(host) }
        }
        var failedStep: String?
        do {
            let prepared = try await flow.prepare(configuration)
            if prepared.isNoOp {
                return .unchanged(
                    message:
                        "Node \(configuration.node.name) is already installed with these answers: nothing to change.",
                    exitCode: 0
                )
            }
            let report = try await flow.apply(prepared) { event in
                if case .failed(let step, _) = event { failedStep = step.rawValue }
                progress(Self.progress(event))
            }
            return .installed(
                cacheHost: prepared.plan.cacheHost,
                policyDirectory: prepared.layout.policyDirectory,
                warnings: report.warnings
            )
        } catch {
            return .failed(step: failedStep, message: error.message, exitCode: error.code.rawValue)
        }
    }

    /// `host` of `host[:port]` or `[v6]:port`.
    static func host(of origin: String) -> String {
        if origin.hasPrefix("["), let end = origin.firstIndex(of: "]") {
            return String(origin[origin.index(after: origin.startIndex)..<end])
        }
        let parts = origin.split(separator: ":")
        return parts.count == 2 ? String(parts[0]) : origin
    }

    static func progress(_ event: Applier.Event) -> ApplyProgress {
        switch event {
        case .started(let step): .started(step.rawValue)
        case let .finished(step, detail): .finished(step.rawValue, detail: detail)
        case let .waiting(step, detail, _): .waiting(step.rawValue, detail: detail)
        case let .failed(step, detail): .failed(step.rawValue, detail: detail)
        case .rollingBack: .rollingBack
        case .rolledBack(let problems): .rolledBack(problems: problems)
        }
    }
}
