import CacheNodeCore

extension WizardDraft {
    /// The answers an earlier run saved, as far as it got; the wizard's own confirmations are asked again.
    package init(context: WizardContext, saved: NodeConfiguration) {
        self.init(context: context)
        nodeName = TextField(context.installed?.node.name ?? saved.node.name)
        switchMode = saved.network.switch.mode
        switch saved.network.switch.mode {
        case .existing:
            existingSwitch = context.switches.firstIndex { $0.value == saved.network.switch.name } ?? 0
        case .create:
            newSwitch = TextField(saved.network.switch.name)
            adapter = context.adapters.firstIndex { $0.value == saved.network.switch.adapter } ?? 0
        }
        addressMode = saved.network.address.mode
        ip = TextField(saved.network.address.ip ?? "")
        gateway = TextField(saved.network.address.gateway ?? "")
        dns = TextField(saved.network.address.dns.joined(separator: ", "))
        upstreamProxy = TextField(saved.engine.upstreamProxy ?? "")
        state = TextField(saved.storage.state)
        if !saved.storage.drives.isEmpty {
            drives = saved.storage.drives.map {
                DriveDraft(path: $0.path, size: $0.sizeGB > 0 ? HostCheck.format($0.sizeGB) : "")
            }
        }
        if let id = saved.resources.profile, let index = context.profiles.firstIndex(where: { $0.id == id }) {
            profile = index
        }
        memory = TextField(saved.resources.memoryGB > 0 ? "\(saved.resources.memoryGB)" : "")
        cores = TextField(saved.resources.cores > 0 ? "\(saved.resources.cores)" : "")
        hubMode = saved.hub.mode
        switch saved.hub.mode {
        case .existing: existingHub = context.hubChoices.firstIndex { $0.value == saved.hub.name } ?? 0
        case .create: newHub = TextField(saved.hub.name)
        case .unlinked: break
        }
        prefillService(saved.hub)
        engine = context.withGivenAddresses(saved.engine)
        https = HTTPSDraft(saved.engine.https, state: saved.storage.state, proposedListen: context.proposedHTTPSListen)
        https.inspectFiles(context, state: state.value)
        for path in [state.value] + drives.map(\.path.value) { measure(path, context: context) }
    }
}

extension Wizard {
    /// Whether this run keeps its answers if it ends without installing: past the welcome screen, or started from
    /// saved answers, and not a dry run (which changes nothing); once installed there is nothing left to keep.
    package var keepsDraft: Bool {
        let installed =
            switch outcome {
            case .installed, .unchanged: true
            case .failed, nil: false
            }
        return context.draftPath != nil && (furthest > .welcome || resumed) && !installed
    }

    /// The answer file this run leaves when it does not finish, or `nil` when it keeps nothing.
    package var draftAnswers: String? {
        guard keepsDraft else { return nil }
        return Self.draftText(draft.configuration(context), sizing: context.sizing)
    }

    /// `configuration` as a draft answer file: never with a password, and with a note on what is still missing.
    package static func draftText(_ configuration: NodeConfiguration, sizing: SizingTable) -> String {
        var configuration = configuration
        var header = [
            "CacheNode answers saved by `cachenode setup` from a run that did not finish",
            "(cancelled, failed or cut off by a signal).",
            "The next `cachenode setup` offers to start from them; `cachenode setup --answers FILE` installs them.",
        ]
        if let proxy = configuration.engine.upstreamProxy, let url = ProxyURL(proxy), url.user != nil,
            url.password != nil || configuration.engine.upstreamProxyPasswordFile == nil
        {
            configuration.engine.upstreamProxy = ProxyURL.removingPassword(proxy)
            header.append(
                "The upstream proxy's password is never saved: the wizard asks for it again; "
                    + "with --answers give it in CACHENODE_PROXY_PASSWORD."
            )
        }
        if configuration.hub.url != nil, configuration.hub.enrolmentKeyFile == nil,
            configuration.hub.adminTokenFile == nil
        {
            header.append(
                "The hub's key or token is never saved: the wizard asks for it again; with --answers give it in "
                    + "hub.enrolment_key_file or CACHENODE_HUB_KEY (or the admin token: hub.admin_token_file, CACHENODE_HUB_TOKEN)."
            )
        }
        let issues = configuration.validate(sizing: sizing)
        if !issues.isEmpty {
            header.append(
                "Not complete yet: --answers refuses this file until these are answered (the wizard reads it):"
            )
            header += issues.map { "  \($0.keyPath): \($0.message)" }
        }
        return AnswerFile.emit(configuration, header: header.joined(separator: "\n"))
    }
}
