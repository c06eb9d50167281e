#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// Carries out an `InstallPlan` step by step; a failure at any step undoes every change of this run.
package struct Applier: Sendable {
    package struct Options: Sendable {
        /// `cacheHostOrigin` of the self-test: the CDN, or a local mirror on an offline network.
        package var selfTestOrigin: String
        package var graceSeconds: Int
        /// Called before each step; tests throw from it to inject a failure there.
        package var beforeStep: @Sendable (ApplyStep) throws -> Void
        /// How long a network change that carries the operator's connection (SSH or the default route) waits to be
        /// confirmed before it is put back; `nil` keeps such a change without asking.
        package var networkConfirmSeconds: Int?
        /// The address the operator's SSH session reached (from `SSH_CONNECTION`).
        package var sshServerAddress: IPAddress?
        /// Whether Enter on standard input confirms (a terminal the operator watches).
        package var confirmOnTerminal: Bool
        /// Links the node to its hub after the self-test; `nil` skips the step.
        package var hubLink: (any HubLinking)?

        package init(
            selfTestOrigin: String = SelfTest.defaultOrigin,
            graceSeconds: Int = 30,
            networkConfirmSeconds: Int? = 120,
            sshServerAddress: IPAddress? = nil,
            confirmOnTerminal: Bool = false,
            hubLink: (any HubLinking)? = nil,
            beforeStep: @escaping @Sendable (ApplyStep) throws -> Void = { _ in }
        ) {
            self.hubLink = hubLink
            self.selfTestOrigin = selfTestOrigin
            self.graceSeconds = graceSeconds
            self.networkConfirmSeconds = networkConfirmSeconds
            self.sshServerAddress = sshServerAddress
            self.confirmOnTerminal = confirmOnTerminal
            self.beforeStep = beforeStep
        }
    }

    package enum Event: Sendable, Equatable {
        case started(ApplyStep)
        case finished(ApplyStep, String)
        /// The step waits for the operator: what to do, and the seconds left.
        case waiting(ApplyStep, String, secondsLeft: Int)
        case failed(ApplyStep, String)
        case rollingBack
        case rolledBack([String])
    }

    package struct Report: Sendable {
        package var selfTest: SelfTest.Outcome
        package var enginePID: pid_t?
        package var manifest: InstallManifest
        package var warnings: [String]
    }

    /// The step that failed, why, and anything the rollback itself could not undo.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var step: ApplyStep
        package var error: InstallError
        package var rollbackProblems: [String]

        package var description: String {
            var text = "\(step.rawValue) failed: \(error); every change of this run was rolled back"
            if !rollbackProblems.isEmpty {
                text += ", except: " + rollbackProblems.joined(separator: "; ")
            }
            return text
        }
    }

    package var binary: String
    package var runner: any CommandRunning

    package init(binary: String, runner: any CommandRunning = SystemCommandRunner()) {
        self.binary = binary
        self.runner = runner
    }

    package func apply(
        _ plan: InstallPlan,
        options: Options = Options(),
        progress: (Event) -> Void = { _ in }
    ) async throws(Failure) -> Report {
        var run = ApplyRun(plan: plan, binary: binary, runner: runner, options: options)
        var step = ApplyStep.render
        do {
            step = .render
            try run.begin(step, progress)
            progress(.finished(.render, "\(plan.files.count) files rendered from Templates/"))

            step = .write
            try run.begin(step, progress)
            progress(.finished(.write, try await run.writeFiles()))

            if plan.configuration.engine.https != nil {
                step = .certificate
                try run.begin(step, progress)
                progress(.finished(.certificate, try run.prepareCertificate()))
            }

            step = .network
            try run.begin(step, progress)
            progress(.finished(.network, try await run.applyNetwork(progress)))

            step = .firewall
            try run.begin(step, progress)
            progress(.finished(.firewall, try await run.applyFirewall()))

            step = .engine
            try run.begin(step, progress)
            progress(.finished(.engine, try await run.startEngine()))

            step = .selfTest
            try run.begin(step, progress)
            let outcome = try run.selfTest()
            progress(.finished(.selfTest, outcome.description))

            step = .hub
            try run.begin(step, progress)
            progress(.finished(.hub, try await run.linkHub()))

            let manifest = try run.recordManifest()
            return Report(selfTest: outcome, enginePID: run.newEngine, manifest: manifest, warnings: run.warnings)
        } catch {
            let installError = error as? InstallError ?? .injected(step: step.rawValue)
            progress(.failed(step, "\(installError)"))
            progress(.rollingBack)
            let problems = await run.rollBack()
            progress(.rolledBack(problems))
            throw Failure(step: step, error: installError, rollbackProblems: problems)
        }
    }
}

/// The state of one apply: what it changed so far, and how to undo it.
private struct ApplyRun {
    var plan: InstallPlan
    var binary: String
    var runner: any CommandRunning
    var options: Applier.Options
    var createdDirectories: [String] = []
    var writtenFiles: [InstallPlan.File] = []
    var backups: [String: String] = [:]
    var previousEngine: pid_t?
    var previousServiceActive = false
    var newEngine: pid_t?
    var firewallApplied = false
    var engineStepRan = false
    var warnings: [String] = []
    var lock: Int32 = -1
    /// The service account, when this run created it (a rollback removes it again).
    var createdAccount = false
    /// How to put the network back, once the network step began.
    var networkRevert: NetworkRevert?
    /// A network change waits for confirmation, with the safety timer running.
    var networkTrialArmed = false
    /// Owners and modes of directories that were there before this run handed them to the service.
    var previousOwnership: [ServiceAccount.Ownership] = []
    /// Takes back what the hub step did at the hub.
    var hubUndo: (@Sendable () async -> [String])?
    /// `hub-link.json` before the hub step wrote it (`.some(nil)`: there was none); `nil` until the step wrote.
    var previousHubLink: [UInt8]??
    /// The request files the certificate step replaced, with their content before (`nil`: they were not there).
    var previousRequest: [String: [UInt8]?] = [:]

    var layout: InstallLayout { plan.layout }

    init(plan: InstallPlan, binary: String, runner: any CommandRunning, options: Applier.Options) {
        self.plan = plan
        self.binary = binary
        self.runner = runner
        self.options = options
    }

    mutating func begin(_ step: ApplyStep, _ progress: (Applier.Event) -> Void) throws {
        progress(.started(step))
        if step == .render { try takeLock() }
        try options.beforeStep(step)
    }

    /// One setup at a time per root.
    mutating func takeLock() throws(InstallError) {
        let path =
            layout.isRealInstall
            ? "/run/cachenode-setup.lock"
            : "/tmp/cachenode-setup-" + String(layout.root.map { $0.isLetter || $0.isNumber ? $0 : "_" }) + ".lock"
        lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw .file(path: path, problem: FileSystem.reason()) }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            lock = -1
            throw .busy(lock: path)
        }
    }

    // MARK: Steps

    mutating func writeFiles() async throws(InstallError) -> String {
        let existing = try InstallManifest.read(layout.installManifest)
        let owned = Set(existing?.files.map(\.path) ?? [])
        var directories = [layout.stateDirectory, layout.policyDirectory, layout.logDirectory]
        directories += plan.configuration.storage.drives.map { layout.onDisk($0.path) }
        directories += plan.files.map { String($0.path[..<($0.path.lastIndex(of: "/") ?? $0.path.startIndex)]) }
        for directory in directories {
            createdDirectories += try FileSystem.makeDirectories(directory)
        }
        for file in plan.files where file.change != .unchanged {
            if file.change == .update, !owned.contains(file.path), let previous = file.previous {
                // A file that was there before CacheNode: keep it so uninstall can put it back.
                let backup = layout.stateDirectory + "/backup" + layout.logical(file.path)
                createdDirectories += try FileSystem.makeDirectories(String(backup[..<backup.lastIndex(of: "/")!]))
                try FileSystem.writeAtomically(backup, Array(previous.utf8), mode: 0o600)
                backups[file.path] = backup
            }
            try FileSystem.writeAtomically(file.path, Array(file.content.utf8), mode: mode_t(file.mode))
            writtenFiles.append(file)
        }
        let unchanged = plan.files.count - writtenFiles.count
        var summary = "\(writtenFiles.count) written" + (unchanged > 0 ? ", \(unchanged) unchanged" : "")
        if layout.isRealInstall {
            try await handToService()
            summary +=
                "; \(layout.stateDirectory) and \(plan.configuration.storage.drives.count) drive(s) belong to user \(ServiceAccount.name)"
        }
        return summary
    }

    /// A real install runs the engine as the unprivileged service account: it owns the state directory, its logs and
    /// each drive (mode 0750); the files setup writes stay root's and readable by the account's group.
    mutating func handToService() async throws(InstallError) {
        let account: ServiceAccount
        if let existing = ServiceAccount.lookup() {
            account = existing
        } else {
            account = try await ServiceAccount.create(home: layout.stateDirectory, runner: runner)
            createdAccount = true
        }
        let drives = plan.configuration.storage.drives.map { layout.onDisk($0.path) }
        try FileSystem.makeDirectories(layout.logDirectory)
        for (directory, recursive) in [(layout.stateDirectory, false), (layout.logDirectory, true)]
            + drives.map({ ($0, true) })
        {
            let before = try (recursive ? account.take(directory) : account.takeOnly(directory))
            if let before, !createdDirectories.contains(directory) { previousOwnership.append(before) }
        }
        try shareStateFiles(with: account)
    }

    /// The files setup keeps in the state directory (configuration, answers, hub link), readable by the service.
    func shareStateFiles(with account: ServiceAccount) throws(InstallError) {
        for file in plan.files where file.path.hasPrefix(layout.stateDirectory + "/") && FileSystem.exists(file.path) {
            try account.share(file.path, mode: mode_t(file.mode))
        }
    }

    /// With `engine.https` and no certificate yet, a key and a request (as `cachenode cert install` takes them), unless
    /// a request for the same names is pending: one already with the CA stays valid.
    mutating func prepareCertificate() throws(InstallError) -> String {
        guard let https = plan.configuration.engine.https else { return "off" }
        let files = TLSFiles(https, layout: layout)
        if FileSystem.exists(files.certificate) {
            return
                "\(layout.logical(files.certificate)) with its key \(layout.logical(files.key)), checked before applying"
        }
        let requester = CertificateRequester(files: files, owner: TLSFiles.owner(layout))
        let names = plan.httpsNames
        if let pending = requester.pending(), pending.names == names {
            return "the request \(files.request) for \(names.joined(separator: ", ")) is pending; "
                + "HTTPS starts once cachenode cert install CERT is run"
        }
        for path in [files.requestKey, files.request] { previousRequest[path] = try FileSystem.contents(path) }
        do {
            createdDirectories += try requester.make(names: names)
        } catch {
            throw .command(step: ApplyStep.certificate.rawValue, problem: "\(error)")
        }
        return "a key and the request \(files.request) for \(names.joined(separator: ", ")); "
            + "HTTPS starts once cachenode cert install CERT is run"
    }

    mutating func runCommands(of step: ApplyStep, skipped: String) async throws(InstallError) -> String {
        let commands = plan.commands.filter { $0.step == step }
        guard layout.isRealInstall else { return "skipped: --root changes nothing on this machine" }
        guard !commands.isEmpty else { return skipped }
        for command in commands {
            let result = await runner.run(command.arguments)
            guard result.status == 0 else {
                throw .command(
                    step: step.rawValue,
                    problem: "\(command.arguments.joined(separator: " ")) exited \(result.status): \(result.output)"
                )
            }
        }
        return commands.map { $0.arguments.joined(separator: " ") }.joined(separator: "; ")
    }

    /// Runs the network commands. When the change carries the operator's own connection it is kept only if confirmed
    /// within the deadline (Enter here, or `cachenode confirm-network` from a new session); else it is put back.
    mutating func applyNetwork(_ progress: (Applier.Event) -> Void) async throws(InstallError) -> String {
        guard layout.isRealInstall else { return try await runCommands(of: .network, skipped: "") }
        let networkFiles = writtenFiles.filter {
            $0.path.hasPrefix(layout.networkdDirectory + "/") || $0.path == layout.netplanFile
        }
        guard !networkFiles.isEmpty else { return try await runCommands(of: .network, skipped: "no network change") }
        let facts = SystemHostProbe().facts(storagePath: "/", listen: nil)
        let revert = NetworkRevert(
            files: writtenFiles.map(NetworkRevert.File.init),
            directories: createdDirectories,
            configuration: plan.configuration,
            existingLinks: Set(facts.interfaces.map(\.name)),
            usesNetplan: networkFiles.contains { $0.path == layout.netplanFile }
        )
        networkRevert = revert
        guard let risk = OperatorLink.risk(plan.configuration, facts: facts, ssh: options.sshServerAddress),
            let seconds = options.networkConfirmSeconds
        else {
            return try await runCommands(of: .network, skipped: "no network change")
        }
        try await NetworkTrial.arm(revert, binary: binary, seconds: seconds, runner: runner)
        networkTrialArmed = true
        let applied = try await runCommands(of: .network, skipped: "no network change")
        let address = plan.configuration.network.address.ip.map { " at \($0.split(separator: "/")[0])" } ?? ""
        let how =
            (options.confirmOnTerminal ? "press Enter here, or " : "")
            + "run `cachenode confirm-network` from a new session to this machine\(address)"
        let confirmed = NetworkTrial.waitForConfirmation(seconds: seconds, terminal: options.confirmOnTerminal) {
            left in
            progress(
                .waiting(
                    .network,
                    "\(risk). To keep the new network, \(how), within \(left) s; else it is put back",
                    secondsLeft: left
                )
            )
        }
        guard confirmed else {
            throw .command(
                step: ApplyStep.network.rawValue,
                problem: "the new network was not confirmed within \(seconds) s (\(risk))"
            )
        }
        await NetworkTrial.disarm(runner: runner)
        networkTrialArmed = false
        return applied + "; confirmed"
    }

    mutating func applyFirewall() async throws(InstallError) -> String {
        let result = try await runCommands(of: .firewall, skipped: "no firewall change")
        firewallApplied = layout.isRealInstall
        return result
    }

    mutating func startEngine() async throws(InstallError) -> String {
        engineStepRan = true
        let configuration = plan.configuration
        guard let admin = ListenAddress(configuration.engine.admin) else {
            throw .engine(problem: "engine.admin '\(configuration.engine.admin)' is not address:port")
        }
        if layout.isRealInstall {
            previousServiceActive =
                await runner.run(["systemctl", "is-active", "--quiet", "cachenode.service"]).status == 0
            _ = try await runCommands(of: .engine, skipped: "")
            // systemd started it; wait for it the same way as for a background engine.
            let target = HTTPProbe.target(for: admin)
            for _ in 0..<300 {
                if let response = try? HTTPProbe.get(target, path: "/health", timeoutSeconds: 2), response.status == 200
                {
                    return "cachenode.service active, /health answers on \(target)"
                }
                usleep(50_000)
            }
            throw .engine(problem: "cachenode.service did not answer /health on \(target); see journalctl -u cachenode")
        }
        if let running = EngineProcess.running(pidFile: layout.pidFile) {
            previousEngine = running
            EngineProcess.stop(pid: running, graceSeconds: options.graceSeconds)
        }
        let pid = try await EngineProcess.start(
            binary: binary,
            config: layout.configuration,
            log: layout.engineLog,
            pidFile: layout.pidFile
        )
        newEngine = pid
        try await EngineProcess.waitUntilReady(pid: pid, admin: admin, log: layout.engineLog)
        let restarted = previousEngine.map { " (replacing pid \($0))" } ?? ""
        return "running as pid \(pid)\(restarted), /health answers on \(HTTPProbe.target(for: admin))"
    }

    mutating func selfTest() throws(InstallError) -> SelfTest.Outcome {
        guard var listen = ListenAddress(plan.configuration.engine.listen) else {
            throw .selfTest(problem: "engine.listen is not address:port")
        }
        // A real install with a static address is tested where its clients reach it, not on loopback.
        if layout.isRealInstall, listen.address?.scope == .unspecified, let address = plan.configuration.servingAddress
        {
            listen = ListenAddress(host: address.description, port: listen.port)
        }
        let outcome = SelfTest(listen: listen, origin: options.selfTestOrigin).run()
        switch outcome {
        case .passed:
            return outcome
        case .originUnreachable where !layout.isRealInstall:
            warnings.append(
                "self-test: \(outcome) (a trial install without access to \(options.selfTestOrigin) keeps going)"
            )
            return outcome
        case .originUnreachable:
            throw .selfTest(problem: "\(outcome); on a network without access to the CDN pass --self-test-origin")
        case .failed(let reason):
            throw .selfTest(problem: reason)
        }
    }

    /// Links the node to its hub and has the running engine pick the link up without a restart (a reload).
    mutating func linkHub() async throws(InstallError) -> String {
        guard let linker = options.hubLink else { return "skipped" }
        let plan = try await linker.prepare(plan.configuration, layout: layout)
        hubUndo = plan.undo
        guard !plan.unchanged else { return plan.detail }
        let path = layout.stateDirectory + "/hub-link.json"
        let since = timeNow()
        previousHubLink = .some(try FileSystem.contents(path))
        if let content = plan.linkFile {
            try FileSystem.writeAtomically(path, content, mode: 0o600)
        } else if FileSystem.exists(path) {
            try FileSystem.remove(path)
        }
        if layout.isRealInstall, let account = ServiceAccount.lookup() {
            // The engine runs as the service account: it reads the link and writes into a registry on this machine.
            if plan.linkFile != nil { try account.share(path, mode: 0o640) }
            if let registry = plan.registry {
                for file in [registry, registry + "-wal", registry + "-shm"] where FileSystem.exists(file) {
                    try account.give(file)
                }
            }
        }
        var detail = plan.detail
        switch await EngineReload.reload(layout: layout, runner: runner) {
        case .reloaded:
            detail +=
                plan.linkFile == nil
                ? "; the engine stopped reporting"
                : "; " + (await linker.firstReport(plan, layout: layout, since: since))
        case .notRunning:
            detail += "; the engine reads the link when it starts"
        case .failed(let problem):
            throw .command(step: ApplyStep.hub.rawValue, problem: "the engine could not be reloaded: \(problem)")
        }
        if let note = plan.finish() { detail += "; " + note }
        return detail
    }

    private func timeNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    mutating func recordManifest() throws(InstallError) -> InstallManifest {
        let existing = try InstallManifest.read(layout.installManifest)
        var entries = existing?.files ?? []
        for file in writtenFiles where !entries.contains(where: { $0.path == file.path }) {
            entries.append(.init(path: file.path, backup: backups[file.path]))
        }
        let manifest = InstallManifest(
            node: plan.configuration.node.name,
            hub: plan.configuration.hub.name,
            root: layout.root,
            state: layout.stateDirectory,
            binary: binary,
            installedAt: InstallManifest.timestamp(),
            files: entries.sorted { $0.path < $1.path },
            directories: ((existing?.directories ?? []) + createdDirectories).uniqued(),
            drives: plan.configuration.storage.drives.map { layout.onDisk($0.path) }
        )
        let previous = try FileSystem.contents(layout.installManifest)
        try FileSystem.writeAtomically(layout.installManifest, manifest.encoded(), mode: 0o600)
        if previous == nil {
            writtenFiles.append(
                .init(
                    path: layout.installManifest,
                    content: "",
                    mode: 0o600,
                    purpose: "",
                    change: .create,
                    previous: nil
                )
            )
        }
        if lock >= 0 { close(lock) }
        return manifest
    }

    // MARK: Rollback

    /// The request files as they were before the certificate step.
    func restoreRequest() -> [String] {
        var problems: [String] = []
        for (path, previous) in previousRequest {
            do {
                if let previous {
                    let mode: mode_t = path.hasSuffix(".key") ? 0o600 : 0o644
                    try StagedFile.stage(previous, at: path, mode: mode, owner: TLSFiles.owner(layout)).commit()
                } else {
                    try FileSystem.remove(path)
                }
            } catch {
                problems.append("\(error)")
            }
        }
        return problems
    }

    /// Undoes this run in reverse; returns what could not be undone.
    mutating func rollBack() async -> [String] {
        var problems: [String] = []
        // The hub first: a node this run created there is deleted again, and the link is as it was.
        if let hubUndo { problems += await hubUndo() }
        if let previousHubLink {
            let path = layout.stateDirectory + "/hub-link.json"
            do {
                if let previous = previousHubLink {
                    try FileSystem.writeAtomically(path, previous, mode: 0o600)
                    if layout.isRealInstall, let account = ServiceAccount.lookup() {
                        try account.share(path, mode: 0o640)
                    }
                } else if FileSystem.exists(path) {
                    try FileSystem.remove(path)
                }
            } catch {
                problems.append("\(error)")
            }
            if newEngine == nil, case .failed(let problem) = await EngineReload.reload(layout: layout, runner: runner) {
                problems.append(problem)
            }
        }
        if let newEngine {
            EngineProcess.stop(pid: newEngine, graceSeconds: options.graceSeconds)
        }
        if layout.isRealInstall, engineStepRan, !previousServiceActive {
            // Stop and disable the service this run started while its unit file is still there to disable.
            let result = await runner.run(["systemctl", "disable", "--now", "cachenode.service"])
            if result.status != 0 { problems.append("systemctl disable --now cachenode.service: \(result.output)") }
        }
        problems += restoreRequest()
        problems += NetworkRevert.restore(writtenFiles.map(NetworkRevert.File.init), removing: createdDirectories)
        previousOwnership.reversed().forEach(ServiceAccount.restore)
        if layout.isRealInstall, let account = ServiceAccount.lookup() {
            if createdAccount {
                let result = await runner.run(["userdel", ServiceAccount.name])
                if result.status != 0 { problems.append("userdel \(ServiceAccount.name): \(result.output)") }
            } else {
                // Restored files are written anew by root: the previous engine must still read its configuration.
                do { try shareStateFiles(with: account) } catch { problems.append("\(error)") }
            }
        }
        if let networkRevert {
            problems += await networkRevert.reapplyNetwork(runner: runner)
        }
        if networkTrialArmed { await NetworkTrial.disarm(runner: runner) }
        if layout.isRealInstall {
            if firewallApplied, !writtenFiles.contains(where: { $0.path == layout.firewall && $0.previous == nil }) {
                _ = await runner.run(["nft", "-f", layout.firewall])
            } else if firewallApplied {
                _ = await runner.run(["nft", "delete", "table", "inet", "cachenode"])
            }
            if engineStepRan {
                _ = await runner.run(["systemctl", "daemon-reload"])
                if previousServiceActive {
                    let result = await runner.run(["systemctl", "restart", "cachenode.service"])
                    if result.status != 0 { problems.append("systemctl restart cachenode.service: \(result.output)") }
                }
            }
        } else if previousEngine != nil {
            // The engine that ran before this setup runs again, on its restored configuration.
            do {
                let pid = try await EngineProcess.start(
                    binary: binary,
                    config: layout.configuration,
                    log: layout.engineLog,
                    pidFile: layout.pidFile
                )
                if let admin = ListenAddress(plan.previous?.engine.admin ?? plan.configuration.engine.admin) {
                    try await EngineProcess.waitUntilReady(pid: pid, admin: admin, log: layout.engineLog)
                }
            } catch {
                problems.append("restarting the previous engine: \(error)")
            }
        } else if newEngine != nil, FileSystem.exists(layout.pidFile),
            !createdDirectories.contains(layout.stateDirectory)
        {
            try? FileSystem.remove(layout.pidFile)
        }
        if lock >= 0 { close(lock) }
        return problems
    }
}

extension Array where Element: Hashable {
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
