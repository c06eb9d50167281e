import CacheNodeCore

/// Everything the wizard knows about the machine and the install before the first key: plain values.
package struct WizardContext: Sendable {
    /// One entry of a numbered list: the value it stands for, and what the list shows beside it.
    package struct Choice: Equatable, Sendable {
        package var value: String
        package var detail: String

        package init(_ value: String, detail: String = "") {
            self.value = value
            self.detail = detail
        }
    }

    package var facts: HostFacts
    package var check: HostCheck
    package var sizing: SizingTable
    /// The hubs known to the local registry or the hub service.
    package var hubs: [String]
    /// The node names each known hub already has: a name is unique in its hub.
    package var nodesByHub: [String: [String]]
    /// The configuration installed on this machine, on a re-run.
    package var installed: NodeConfiguration?
    /// A `--root` trial: propose an unprivileged listen port.
    package var isTrial: Bool
    /// `--dry-run`: Review ends the wizard instead of installing.
    package var isDryRun: Bool
    /// Free space and disk type at a path as the configuration names it; `nil` when unknown.
    package var measure: @Sendable (String) -> HostFacts.Storage?
    /// Answers an earlier run saved because it did not finish: the wizard offers to start from them.
    package var savedAnswers: SavedAnswers?
    /// Where this run keeps its answers if it does not finish; `nil` when it keeps none (a dry run).
    package var draftPath: String?
    /// Checks the network of the answers before anything changes (address free, gateway, DNS, proxy, listen port);
    /// `nil` when the wizard does not check.
    package var checkNetwork: (@Sendable (NodeConfiguration) -> [NetworkCheck])?
    /// The hub service the command line names, to start the hub step from.
    package var hubService: HubServicePrefill?
    /// Checks a hub service's address, certificate and admin token at once; `nil` when the wizard does not check.
    package var checkHub: (@Sendable (HubCheckRequest) async -> HubCheckResult)?
    /// This machine's host name: a DHCP node's `DOCacheHost` value, and so the name its certificate needs.
    package var hostName: String
    /// Whether a file the answers name (a certificate, a key) is there and readable, at the path as the
    /// configuration names it; `nil` when the wizard cannot look.
    package var inspectFile: @Sendable (String) -> FileFacts?
    /// The engine's listen address the command line gives (`--listen`): a new install proposes it, and it replaces
    /// the installed or saved one; `nil`: the installed one, else the proposal of `proposedListen`.
    package var givenListen: String?
    /// The admin listener's address the command line gives (`--admin-listen`), the same way.
    package var givenAdmin: String?

    /// Answers saved by a run that did not finish, as read back from their file.
    package struct SavedAnswers: Sendable {
        package var path: String
        /// When the file was written, as the screen shows it.
        package var savedAt: String
        package var configuration: NodeConfiguration

        package init(path: String, savedAt: String, configuration: NodeConfiguration) {
            self.path = path
            self.savedAt = savedAt
            self.configuration = configuration
        }
    }

    package init(
        facts: HostFacts,
        check: HostCheck,
        sizing: SizingTable,
        hubs: [String] = [],
        nodesByHub: [String: [String]] = [:],
        installed: NodeConfiguration? = nil,
        isTrial: Bool = false,
        isDryRun: Bool = false,
        measure: @escaping @Sendable (String) -> HostFacts.Storage? = { _ in nil },
        savedAnswers: SavedAnswers? = nil,
        draftPath: String? = nil,
        checkNetwork: (@Sendable (NodeConfiguration) -> [NetworkCheck])? = nil,
        hubService: HubServicePrefill? = nil,
        checkHub: (@Sendable (HubCheckRequest) async -> HubCheckResult)? = nil,
        hostName: String = "localhost",
        inspectFile: @escaping @Sendable (String) -> FileFacts? = { _ in nil },
        givenListen: String? = nil,
        givenAdmin: String? = nil
    ) {
        self.givenListen = givenListen
        self.givenAdmin = givenAdmin
        self.hostName = hostName
        self.inspectFile = inspectFile
        self.hubService = hubService
        self.checkHub = checkHub
        self.facts = facts
        self.check = check
        self.sizing = sizing
        self.hubs = hubs
        self.nodesByHub = nodesByHub
        self.installed = installed
        self.isTrial = isTrial
        self.isDryRun = isDryRun
        self.measure = measure
        self.savedAnswers = savedAnswers
        self.draftPath = draftPath
        self.checkNetwork = checkNetwork
    }

    /// The listen address a new install proposes: the one the command line gives, else 8080 for a trial, 80 (what
    /// Windows clients expect) otherwise.
    package var proposedListen: String { Self.proposedListen(given: givenListen, isTrial: isTrial) }

    /// `proposedListen` before there is a context: setup tests whether that port is free.
    package static func proposedListen(given: String?, isTrial: Bool) -> String {
        given ?? (isTrial ? "0.0.0.0:8080" : NodeConfiguration.Engine.defaultListen)
    }

    /// The admin listener's address a new install proposes: the one the command line gives, else loopback port 5000.
    package var proposedAdmin: String { givenAdmin ?? NodeConfiguration.Engine.defaultAdmin }

    /// `engine` with the addresses the command line gives in place of its own: on a re-run, or from saved answers,
    /// a flag is a change like any other, and Review shows it.
    package func withGivenAddresses(_ engine: NodeConfiguration.Engine) -> NodeConfiguration.Engine {
        var engine = engine
        if let givenListen { engine.listen = givenListen }
        if let givenAdmin { engine.admin = givenAdmin }
        return engine
    }

    /// The TLS listen address a new HTTPS answer proposes: 8443 for a trial, 443 otherwise, on the address
    /// `--listen` gives (else every address).
    package var proposedHTTPSListen: String {
        let host = givenListen.flatMap(ListenAddress.init)?.host ?? "0.0.0.0"
        return ListenAddress(host: host, port: isTrial ? 8443 : 443).description
    }

    /// The machine's switches (bridges), plus the installed one if the machine no longer shows it.
    package var switches: [Choice] {
        var choices = facts.bridges.map { bridge in
            Choice(bridge.name, detail: Self.describe(bridge, members: true))
        }
        if let old = installed?.network.switch, !choices.contains(where: { $0.value == old.name }) {
            choices.append(Choice(old.name, detail: "configured by the installed node"))
        }
        return choices
    }

    /// The adapters a new switch can take over, each with speed, state and address.
    package var adapters: [Choice] {
        var choices = facts.adapters.map { Choice($0.name, detail: Self.describe($0, members: false)) }
        if let adapter = installed?.network.switch.adapter, !choices.contains(where: { $0.value == adapter }) {
            choices.append(Choice(adapter, detail: "configured by the installed node"))
        }
        return choices
    }

    /// The hubs on this machine to pick from, the installed node's hub included when it is one of them.
    package var hubChoices: [Choice] {
        var names = hubs
        if let hub = installed?.hub, hub.isLocal, hub.mode != .unlinked, !names.contains(hub.name) {
            names.append(hub.name)
        }
        return names.map { Choice($0) }
    }

    /// The sizing profiles to pick from, smallest first: the offered ones, and a hidden one (a trial's `test`) that
    /// the installed node or the saved answers name, so a re-run accepts what their answer file was accepted with.
    package var profiles: [SizingTable.Profile] {
        var profiles = sizing.offered
        for id in [installed?.resources.profile, savedAnswers?.configuration.resources.profile].compactMap({ $0 }) {
            guard !profiles.contains(where: { $0.id == id }), let profile = sizing.profile(named: id) else { continue }
            profiles.append(profile)
        }
        return profiles.sorted { $0.throughputGbps < $1.throughputGbps }
    }

    /// The profile a new install starts from: the largest that fits the machine, else the smallest offered.
    package var defaultProfile: SizingTable.Profile? {
        if let id = check.fittingProfile, let profile = sizing.profile(named: id) { return profile }
        return sizing.offered.first
    }

    /// Whole GB of memory the machine has (never more than it reports): the most the node may be given.
    package var machineMemoryGB: Int? {
        facts.memoryBytes.map { Int((Double($0) / 1_000_000_000).rounded(.down)) }
    }

    private static func describe(_ interface: HostFacts.Interface, members: Bool) -> String {
        var parts: [String] = []
        if members {
            parts.append(
                interface.bridgeMembers.isEmpty ? "no ports" : "ports " + interface.bridgeMembers.joined(separator: ",")
            )
        } else {
            parts.append(
                interface.speedMbps.map { $0 >= 1000 ? "\(HostCheck.format(Double($0) / 1000)) Gbps" : "\($0) Mbps" }
                    ?? "speed unknown"
            )
        }
        parts.append(interface.state)
        parts.append(interface.addresses.isEmpty ? "no address" : interface.addresses.joined(separator: ","))
        if !members, let bridge = interface.bridge { parts.append("in \(bridge)") }
        return parts.joined(separator: ", ")
    }
}
