import CacheNodeCore

/// The answers as typed so far, one value per field: nothing is lost by going back and forth.
package struct WizardDraft: Equatable, Sendable {
    /// One cache drive as typed: its path and size in GB.
    package struct DriveDraft: Equatable, Sendable {
        package var path: TextField
        package var size: TextField

        package init(path: String, size: String) {
            self.path = TextField(path)
            self.size = TextField(size)
        }
    }

    package var continueAnyway = false
    package var nodeName = TextField()
    package var switchMode = NodeConfiguration.Switch.Mode.existing
    package var existingSwitch = 0
    package var newSwitch = TextField()
    package var adapter = 0
    package var restartUnderstood = false
    package var addressMode = NodeConfiguration.Address.Mode.static
    package var ip = TextField()
    package var gateway = TextField()
    package var dns = TextField()
    package var upstreamProxy = TextField()
    /// Typed on the address step when the proxy URL names a user; only the install sees it.
    package var proxyPassword = TextField()
    package var state = TextField(NodeConfiguration.Storage.defaultState)
    package var drives: [DriveDraft] = []
    package var profile = 0
    package var memory = TextField()
    package var cores = TextField()
    package var belowProfileAccepted = false
    package var networkWarningsAccepted = false
    package var hubMode = NodeConfiguration.Hub.Mode.existing
    package var existingHub = 0
    package var newHub = TextField()
    package var hubPlace = HubPlace.local
    package var hubURL = TextField()
    /// A fingerprint, or the path of a CA file.
    package var hubCertificate = TextField()
    package var hubJoin = HubJoin.enrolmentKey
    /// The one-time key or admin token as typed: only the install sees it.
    package var hubSecret = TextField()
    package var keyHub = TextField()
    /// The hubs the hub service listed for the admin token, with their nodes.
    package var serviceHubs: [String] = []
    package var serviceNodesByHub: [String: [String]] = [:]
    package var engine = NodeConfiguration.Engine()
    /// The HTTPS step's answers; `configuration` makes `engine.https` of them.
    package var https = HTTPSDraft(listen: NodeConfiguration.HTTPS.defaultListen)
    /// Free space and disk type measured at each path typed, so the screen shows it live.
    package var measured: [String: HostFacts.Storage] = [:]

    /// The answers a new install starts from, or the installed ones on a re-run.
    package init(context: WizardContext) {
        let profiles = context.profiles
        let profile = context.defaultProfile
        self.profile = profiles.firstIndex { $0.id == profile?.id } ?? 0
        if let old = context.installed {
            prefill(from: old, context: context)
        } else {
            switchMode = context.switches.isEmpty ? .create : .existing
            newSwitch = TextField(Self.freeSwitchName(context))
            let memory = min(Int(profile?.memoryGB ?? 4), context.machineMemoryGB ?? Int.max)
            let cores = min(profile?.cores ?? 4, context.facts.cores ?? Int.max)
            self.memory = TextField("\(memory)")
            self.cores = TextField("\(cores)")
            drives = [DriveDraft(path: "/srv/cache", size: HostCheck.format(profile?.diskGB ?? 50))]
            hubMode = context.hubChoices.isEmpty ? .create : .existing
            engine = NodeConfiguration.Engine(listen: context.proposedListen, admin: context.proposedAdmin)
            https = HTTPSDraft(listen: context.proposedHTTPSListen)
            if let service = context.hubService {
                hubPlace = .service
                hubURL = TextField(service.url)
                hubCertificate = TextField(service.certificate)
                if let token = service.adminToken {
                    hubJoin = .adminToken
                    hubSecret = TextField(token)
                }
            }
        }
        for path in [state.value] + drives.map(\.path.value) { measure(path, context: context) }
        https.inspectFiles(context, state: state.value)
    }

    private mutating func prefill(from old: NodeConfiguration, context: WizardContext) {
        nodeName = TextField(old.node.name)
        switchMode = old.network.switch.mode
        switch old.network.switch.mode {
        case .existing:
            existingSwitch = context.switches.firstIndex { $0.value == old.network.switch.name } ?? 0
            newSwitch = TextField(Self.freeSwitchName(context))
        case .create:
            newSwitch = TextField(old.network.switch.name)
            adapter = context.adapters.firstIndex { $0.value == old.network.switch.adapter } ?? 0
            restartUnderstood = true
        }
        addressMode = old.network.address.mode
        ip = TextField(old.network.address.ip ?? "")
        gateway = TextField(old.network.address.gateway ?? "")
        dns = TextField(old.network.address.dns.joined(separator: ", "))
        upstreamProxy = TextField(old.engine.upstreamProxy ?? "")
        state = TextField(old.storage.state)
        drives = old.storage.drives.map { DriveDraft(path: $0.path, size: HostCheck.format($0.sizeGB)) }
        if let id = old.resources.profile, let index = context.profiles.firstIndex(where: { $0.id == id }) {
            profile = index
        }
        memory = TextField("\(old.resources.memoryGB)")
        cores = TextField("\(old.resources.cores)")
        hubMode = .existing
        existingHub = context.hubChoices.firstIndex { $0.value == old.hub.name } ?? 0
        newHub = TextField()
        prefillService(old.hub)
        engine = context.withGivenAddresses(old.engine)
        https = HTTPSDraft(old.engine.https, state: old.storage.state, proposedListen: context.proposedHTTPSListen)
        continueAnyway = true
    }

    /// A hub service the answers name: its address and certificate, and the hub as a one-time key's (a re-run that
    /// stays in it needs no key).
    mutating func prefillService(_ hub: NodeConfiguration.Hub) {
        guard let url = hub.url else { return }
        hubPlace = .service
        hubURL = TextField(url)
        hubCertificate = TextField(hub.fingerprint ?? hub.caFile ?? "")
        hubJoin = hub.mode == .create ? .adminTokenNewHub : hub.adminTokenFile != nil ? .adminToken : .enrolmentKey
        keyHub = TextField(hub.name)
        if hub.mode == .create { newHub = TextField(hub.name) }
    }

    /// The hub the answers join: on this machine, or at a hub service.
    func hub(_ context: WizardContext) -> NodeConfiguration.Hub {
        guard hubPlace == .service else {
            let hubs = context.hubChoices
            switch hubMode {
            case .existing:
                return .init(mode: .existing, name: hubs.indices.contains(existingHub) ? hubs[existingHub].value : "")
            case .create: return .init(mode: .create, name: newHub.value)
            case .unlinked: return .unlinked
            }
        }
        let certificate = hubCertificate.value
        let isFile = certificate.hasPrefix("/")
        var hub = NodeConfiguration.Hub(
            mode: hubJoin == .adminTokenNewHub ? .create : .existing,
            name: "",
            url: hubURL.value.isEmpty ? nil : hubURL.value,
            fingerprint: certificate.isEmpty || isFile ? nil : HubFingerprint.normalised(certificate) ?? certificate,
            caFile: isFile ? certificate : nil
        )
        switch hubJoin {
        case .adminTokenNewHub: hub.name = newHub.value
        case .enrolmentKey: hub.name = keyHub.value
        case .adminToken: hub.name = serviceHubs.indices.contains(existingHub) ? serviceHubs[existingHub] : ""
        }
        return hub
    }

    /// The key or token typed on the hub step, for the install alone; `nil` for a hub on this machine.
    package var hubCredentialGiven: HubCredential? {
        guard hubPlace == .service, !hubSecret.text.isEmpty else { return nil }
        let secret = hubSecret.value
        return hubJoin == .enrolmentKey ? .enrolmentKey(secret) : .adminToken(secret)
    }

    /// `br0`, or the first `brN` the machine does not have yet.
    private static func freeSwitchName(_ context: WizardContext) -> String {
        let taken = Set(context.facts.interfaces.map(\.name))
        return (0...99).lazy.map { "br\($0)" }.first { !taken.contains($0) } ?? "cachebr0"
    }

    /// Measures `path` once, so the storage step can show its free space.
    package mutating func measure(_ path: String, context: WizardContext) {
        guard PathRules.problem(path) == nil, measured[path] == nil, let storage = context.measure(path) else { return }
        measured[path] = storage
    }

    /// The profile chosen on the resources step.
    package func chosenProfile(_ context: WizardContext) -> SizingTable.Profile? {
        let profiles = context.profiles
        return profiles.indices.contains(profile) ? profiles[profile] : profiles.first
    }

    /// The configuration these answers make; unparsable numbers become values validation refuses.
    package func configuration(_ context: WizardContext) -> NodeConfiguration {
        let switches = context.switches
        let adapters = context.adapters
        let networkSwitch: NodeConfiguration.Switch
        switch switchMode {
        case .existing:
            let name = switches.indices.contains(existingSwitch) ? switches[existingSwitch].value : ""
            networkSwitch = .init(mode: .existing, name: name)
        case .create:
            let adapter = adapters.indices.contains(adapter) ? adapters[adapter].value : ""
            networkSwitch = .init(mode: .create, name: newSwitch.value, adapter: adapter)
        }
        let address: NodeConfiguration.Address
        switch addressMode {
        case .dhcp:
            address = .dhcp
        case .static:
            address = .init(
                mode: .static,
                ip: ip.value.isEmpty ? nil : ip.value,
                gateway: gateway.value.isEmpty ? nil : gateway.value,
                dns: Self.list(dns.value)
            )
        }
        var engine = self.engine
        // Never a password: `secretConfiguration` adds it for the install alone.
        engine.upstreamProxy = upstreamProxy.value.isEmpty ? nil : ProxyURL.removingPassword(upstreamProxy.value)
        if engine.upstreamProxy == nil { engine.upstreamProxyPasswordFile = nil }
        engine.https = https.configuration(state: state.value)
        return NodeConfiguration(
            node: .init(name: context.installed?.node.name ?? nodeName.value),
            network: .init(switch: networkSwitch, address: address),
            storage: .init(
                state: state.value,
                drives: drives.map { .init(path: $0.path.value, sizeGB: Double($0.size.value) ?? -1) }
            ),
            resources: .init(
                memoryGB: Int(memory.value) ?? 0,
                cores: Int(cores.value) ?? 0,
                profile: chosenProfile(context)?.id ?? context.installed?.resources.profile
            ),
            hub: hub(context),
            engine: engine
        )
    }

    /// The configuration to install: `configuration` with the proxy password typed (or given in the URL) back in
    /// the URL, from where the install moves it into a file of its own (0600).
    package func secretConfiguration(_ context: WizardContext) -> NodeConfiguration {
        var configuration = configuration(context)
        guard let url = configuration.engine.upstreamProxy, let password = proxyPasswordGiven,
            let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@")
        else { return configuration }
        configuration.engine.upstreamProxy =
            String(url[..<at]) + ":" + Self.percentEncoded(password) + String(url[at...])
        return configuration
    }

    /// The password for the proxy user: typed in its field, else left in the URL; `nil` when none was given.
    package var proxyPasswordGiven: String? {
        if !proxyPassword.text.isEmpty { return proxyPassword.text }
        return ProxyURL(upstreamProxy.value)?.password
    }

    /// Whether the proxy URL names a user without a password in it: then the password has a field of its own.
    package var proxyNeedsPasswordField: Bool {
        guard let proxy = ProxyURL(upstreamProxy.value) else { return false }
        return proxy.user != nil && proxy.password == nil
    }

    /// `text` as URL userinfo: every byte outside the unreserved characters as `%XX`.
    static func percentEncoded(_ text: String) -> String {
        text.utf8.map { byte in
            let unreserved =
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte)
                || (0x61...0x7A).contains(byte) || "-._~".utf8.contains(byte)
            guard !unreserved else { return String(UnicodeScalar(byte)) }
            return "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
        }.joined()
    }

    /// `10.0.0.2, 10.0.0.3` or `10.0.0.2 10.0.0.3` → two servers.
    static func list(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
    }

    /// Total cache size typed, in GB; unparsable sizes count as zero.
    package var totalDriveGB: Double {
        drives.reduce(0) { $0 + max(0, Double($1.size.value) ?? 0) }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
