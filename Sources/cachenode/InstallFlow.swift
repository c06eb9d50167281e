import CacheNodeCore
import Installer

#if canImport(Glibc)
    import Glibc
#endif

/// The non-interactive install: check the host, plan, show, confirm, apply. The wizard hands its result here too.
struct InstallFlow {
    var root: String
    var dryRun = false
    var assumeYes = false
    var selfTestOrigin = SelfTest.defaultOrigin
    /// The machine the host check reads (`/`, or a fixture tree in tests).
    var hostRoot = "/"
    /// How long a network change that carries the operator's connection waits for confirmation; `nil`: not at all.
    var networkConfirmSeconds: Int? = 120
    /// The key or token that joins a hub service (from a file, the environment or the wizard); never written.
    var hubCredential: HubCredential?

    /// Loads the templates and resources this binary ships with.
    static func resources() throws(CommandFailure) -> InstallResources {
        let directory = try ResourceLocator.resourcesDirectory()
        let templates = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)]) + "/Templates"
        do {
            return try InstallResources(resources: directory, templates: templates)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }

    /// The configuration installed under `root`, as the operator gave it, when there is one.
    func installed(state: String, sizing: SizingTable) throws(CommandFailure) -> InstalledNode? {
        do {
            return try InstalledNode.find(root: root, state: state, sizing: sizing)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }

    /// A checked host and a plan, ready to apply: what the text path shows and the wizard's Review confirmed.
    struct Prepared {
        var configuration: NodeConfiguration
        var plan: InstallPlan
        var previous: InstalledNode?
        var layout: InstallLayout
        /// Nothing to change and the node is up: applying again would only restart it.
        var isNoOp: Bool
    }

    /// Checks the host (blocking rows, resources or drives beyond the machine) and plans the install.
    func prepare(_ answers: NodeConfiguration) async throws(CommandFailure) -> Prepared {
        var configuration = answers
        let resources = try Self.resources()
        let previous = try installed(state: configuration.storage.state, sizing: resources.sizing)

        // Paths the service would take over: never a system or home directory, never someone else's files.
        let layout = InstallLayout(root: root, state: configuration.storage.state)
        // The proxy's password goes to a file of its own, never into a configuration.
        let secrets = try ProxySecret.separate(&configuration, layout: layout)
        let pathProblems =
            PathRules.ownershipProblems(configuration.storage)
            + DriveDirectory.problems(configuration, layout: layout, previous: previous?.configuration)
        if !pathProblems.isEmpty {
            throw CommandFailure(
                .invalid,
                "the service cannot take over these paths:\n" + pathProblems.map { "  - \($0)" }.joined(separator: "\n")
            )
        }

        try await Self.checkHTTPSFiles(configuration, layout: layout)

        // The host: blocking rows, and resources or drives beyond what the machine has.
        let ownEngineRunning = EngineProcess.running(pidFile: layout.pidFile) != nil
        let probe = SystemHostProbe(root: hostRoot)
        let firstDrive = layout.onDisk(configuration.storage.drives.first?.path ?? configuration.storage.state)
        let listen = ownEngineRunning || previous != nil ? nil : configuration.engine.listen
        let facts = probe.facts(storagePath: firstDrive, listen: listen)
        let total = configuration.storage.drives.reduce(0) { $0 + $1.sizeGB }
        let check = HostCheck(
            facts: facts,
            sizing: resources.sizing,
            requiredDiskGB: previous == nil ? total : nil,
            address: configuration.servingAddress,
            adapter: configuration.network.switch.adapter
        )
        let freeByDrive: [Int64?] = configuration.storage.drives.map { drive in
            if let old = previous?.configuration.storage.drives.first(where: { $0.path == drive.path }) {
                // Cached content already counts against the free space: only growth needs room.
                let growth = drive.sizeBytes - old.sizeBytes
                return growth <= 0
                    ? nil
                    : probe.facts(storagePath: layout.onDisk(drive.path), listen: nil).storage?.freeBytes.map {
                        $0 + old.sizeBytes
                    }
            }
            return probe.facts(storagePath: layout.onDisk(drive.path), listen: nil).storage?.freeBytes
        }
        let hostProblems = configuration.hostProblems(
            facts: facts,
            freeBytesByDrive: freeByDrive,
            sizing: resources.sizing
        )
        if check.isBlocked || !hostProblems.isEmpty {
            let lines = check.blockingReasons.map { "  - \($0)" } + hostProblems.map { "  - \($0)" }
            throw CommandFailure(
                .blocked,
                "this machine cannot run the node as configured:\n" + lines.joined(separator: "\n")
            )
        }

        let planner = InstallPlanner(
            templates: resources.templates,
            policy: resources.policy,
            binary: Self.binaryPath(),
            hostName: currentHostName(),
            version: CacheNodeVersion.current,
            usesNetplan: usesNetplan(root: root)
        )
        let plan: InstallPlan
        do {
            plan = try planner.plan(configuration, root: root, previous: previous?.configuration, secrets: secrets)
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        let linked = HubLinker.isUpToDate(configuration, layout: layout)
        if !linked, !dryRun, configuration.hub.url != nil, hubCredential == nil {
            throw CommandFailure(
                .invalid,
                "hub.url: joining hub \(configuration.hub.name) at \(configuration.hub.url ?? "") needs a one-time key "
                    + "(hub.enrolment_key_file, or \(HubSecret.keyVariable) in the environment) or the hub's admin token "
                    + "(hub.admin_token_file, or \(HubSecret.tokenVariable))"
            )
        }
        let isNoOp = plan.isNoOp && linked && (ownEngineRunning || layout.isRealInstall)
        return Prepared(configuration: configuration, plan: plan, previous: previous, layout: layout, isNoOp: isNoOp)
    }

    /// Applies a prepared plan, delivering each action's progress as an event; a failure is rolled back (exit 4).
    func apply(_ prepared: Prepared, progress: (Applier.Event) -> Void) async throws(CommandFailure)
        -> Applier.Report
    {
        let applier = Applier(binary: Self.binaryPath())
        let options = Applier.Options(
            selfTestOrigin: selfTestOrigin,
            networkConfirmSeconds: networkConfirmSeconds,
            sshServerAddress: OperatorLink.sshServerAddress(getenv("SSH_CONNECTION").map { String(cString: $0) }),
            confirmOnTerminal: isatty(STDIN_FILENO) == 1,
            hubLink: HubLinker(credential: hubCredential)
        )
        do {
            return try await applier.apply(prepared.plan, options: options, progress: progress)
        } catch {
            throw CommandFailure(.applyFailed, "\(error)")
        }
    }

    /// The text path: installs or reconfigures, printing progress; throws the documented exit codes.
    func run(_ configuration: NodeConfiguration, confirm: (InstallPlan) -> Bool) async throws(CommandFailure) {
        let prepared = try await prepare(configuration)
        let plan = prepared.plan
        let layout = prepared.layout
        if dryRun {
            print(plan.describe(), terminator: "")
            return
        }
        if prepared.isNoOp {
            print("Node \(configuration.node.name) is already installed with these answers: nothing to change.")
            return
        }
        if prepared.previous != nil {
            print("Reconfiguring node \(configuration.node.name) under \(root):")
            let changes = plan.settingChanges
            if changes.isEmpty { print("  no setting changes; files are brought in line") }
            for change in changes { print("  \(change.key): \(change.old) -> \(change.new)") }
            for file in plan.changedFiles { print("  \(file.change.rawValue) \(layout.logical(file.path))") }
            guard assumeYes || confirm(plan) else {
                throw CommandFailure(.failure, "nothing was changed")
            }
        }
        let report = try await apply(prepared) { event in
            // A wait for confirmation is shown when it starts and every 30 seconds, not every second.
            if case .waiting(_, _, let left) = event, left % 30 != 0, left != networkConfirmSeconds { return }
            print(Self.line(for: event))
        }
        for warning in report.warnings { print("warning: \(warning)") }
        print("")
        print("Node \(configuration.node.name) is installed\(layout.isRealInstall ? "" : " under \(root)").")
        print("Point clients at it: DOCacheHost = \(plan.cacheHost)")
        print("Client policy files: \(layout.policyDirectory)")
        for line in HTTPSSetup.notices(configuration, previous: prepared.previous?.configuration, layout: layout) {
            print(line)
        }
    }

    /// Certificate and key files the answers name that are there already must pass the checks of `cert install`
    /// (exit 2, nothing applied); when there is no certificate yet, the apply step makes a request. The CA file for
    /// HTTPS origins must be there, readable by the engine: without it the engine would not start.
    static func checkHTTPSFiles(_ configuration: NodeConfiguration, layout: InstallLayout) async throws(CommandFailure)
    {
        // The engine's account reads the files on a real install; a trial's engine runs as the user running setup.
        let account = layout.isRealInstall ? ServiceAccount.lookup() : nil
        if let caFile = configuration.engine.originCAFile {
            let path = layout.onDisk(caFile)
            let problem =
                FileSystem.exists(path)
                ? account?.cannotRead(path)
                : "\(path) does not exist\(layout.isRealInstall ? "" : " (paths are under --root)")"
            if let problem {
                let issue = ConfigurationIssue(
                    "engine.origin_ca_file",
                    problem,
                    hint: "a PEM file of the CA certificates that issued your HTTPS origins' certificates"
                )
                throw CommandFailure(.invalid, issue.description)
            }
        }
        guard let https = configuration.engine.https else { return }
        let names = CertificateRules.requiredNames(configuration, hostName: currentHostName())
        let issues = await HTTPSSetup.problems(https, names: names, layout: layout, account: account)
        guard issues.isEmpty else {
            throw CommandFailure(.invalid, issues.map(\.description).joined(separator: "\n"))
        }
    }

    /// One progress event as the text path prints it.
    static func line(for event: Applier.Event) -> String {
        switch event {
        case .started(let step): "[....] \(step.rawValue)"
        case let .finished(step, detail): "[ ok ] \(step.rawValue): \(detail)"
        case let .waiting(step, detail, _): "[wait] \(step.rawValue): \(detail)"
        case let .failed(step, detail): "[FAIL] \(step.rawValue): \(detail)"
        case .rollingBack: "[....] rolling back every change of this run"
        case .rolledBack(let problems):
            problems.isEmpty ? "[ ok ] rolled back" : "[FAIL] rolled back, except: \(problems.joined(separator: "; "))"
        }
    }

    /// This binary, which the service and the background engine run.
    static func binaryPath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Asks a yes/no question on the terminal; false without a terminal.
func askYesNo(_ question: String) -> Bool {
    guard isatty(STDIN_FILENO) == 1 else { return false }
    print("\(question) [y/N] ", terminator: "")
    guard let answer = readLine() else { return false }
    return ["y", "yes"].contains(answer.lowercased().trimmingCharacters(in: " "))
}
