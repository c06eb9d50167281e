import CacheNodeCore

extension Wizard {
    /// One problem with an answer: the step and field it belongs to.
    package struct Problem: Equatable, Sendable {
        package var step: WizardStep
        package var field: WizardField?
        package var message: String
    }

    /// Rows of the hardware check that warn for the profile the machine fits (or the smallest).
    package var welcomeWarnings: [CheckRow] {
        let profile = context.defaultProfile?.id ?? ""
        return context.check.rows.filter { ($0.verdict(for: profile)?.status ?? $0.worst) == .warning }
    }

    /// Where the chosen resources fall below the chosen profile.
    package var resourceWarnings: [String] {
        guard let profile = draft.chosenProfile(context) else { return [] }
        var warnings: [String] = []
        // All the memory the machine has is enough when the hardware check passes the machine for the profile
        // (the table's tolerance: a machine sold with 8 GB reports a little less).
        let memoryRow = context.check.rows.first { $0.id == "memory" }
        let machineMeetsProfile = memoryRow?.verdict(for: profile.id)?.status == .pass
        if let memory = Int(draft.memory.value), Double(memory) < profile.memoryGB,
            !(machineMeetsProfile && memory >= context.machineMemoryGB ?? Int.max)
        {
            warnings.append(
                "\(memory) GB of memory is below the \(HostCheck.format(profile.memoryGB)) GB of the \(profile.id) profile"
            )
        }
        if let cores = Int(draft.cores.value), cores < profile.cores {
            warnings.append("\(cores) cores are below the \(profile.cores) of the \(profile.id) profile")
        }
        return warnings
    }

    /// Every problem of every answer, in step order.
    package func allErrors() -> [Problem] {
        Self.reviewSteps.flatMap { step in
            let errors = stepErrors(step)
            return fields(step).compactMap { field in
                errors[field].map { Problem(step: step, field: field, message: $0) }
            }
        }
    }

    /// The errors shown now: a field's once it was edited, all of them once Enter was pressed on the step.
    package func visibleErrors(_ step: WizardStep) -> [WizardField: String] {
        let all = stepErrors(step)
        if attempted.contains(step) { return all }
        return all.filter { touched.contains($0.key) }
    }

    /// The problems of the fields of `step`, by field; the core's validation rules plus what only the wizard knows.
    package func stepErrors(_ step: WizardStep) -> [WizardField: String] {
        let visible = Set(fields(step))
        var errors: [WizardField: String] = [:]
        func add(_ field: WizardField, _ message: String) {
            if visible.contains(field), errors[field] == nil { errors[field] = message }
        }
        // What only the wizard can tell: unparsable numbers, names taken on this machine, unticked warnings.
        for (index, drive) in draft.drives.enumerated() where Double(drive.size.value) == nil {
            add(.driveSize(index), "'\(drive.size.value)' is not a number of GB")
        }
        if Int(draft.memory.value) == nil { add(.memory, "'\(draft.memory.value)' is not a whole number of GB") }
        if Int(draft.cores.value) == nil { add(.cores, "'\(draft.cores.value)' is not a whole number") }
        if context.switches.isEmpty { add(.existingSwitch, "this machine has no switch: create one") }
        if context.adapters.isEmpty { add(.adapter, "no network adapter found") }
        if draft.switchMode == .create, context.facts.interfaces.contains(where: { $0.name == draft.newSwitch.value }),
            context.installed?.network.switch.name != draft.newSwitch.value
        {
            add(.newSwitch, "'\(draft.newSwitch.value)' already exists on this machine (pick it as an existing switch)")
        }
        for (field, message) in hubErrors() { add(field, message) }
        for (field, message) in httpsErrors() { add(field, message) }
        var configuration = draft.configuration(context)
        if step == .storage {
            // The profile is chosen on the next step: until then drives are judged by the smallest one it offers.
            configuration.resources.profile = context.profiles.min { $0.diskGB < $1.diskGB }?.id
        }
        if let profile = draft.chosenProfile(context) {
            for (index, drive) in draft.drives.enumerated() {
                guard let size = Double(drive.size.value), size > 0, size < profile.diskGB else { continue }
                add(
                    .profile,
                    "drive \(index + 1) has \(HostCheck.format(size)) GB, below the \(HostCheck.format(profile.diskGB)) GB "
                        + "per drive of the \(profile.id) profile (enlarge it on step 5, or pick a smaller profile)"
                )
            }
        }
        if context.installed == nil, configuration.hub.mode == .existing,
            hubNodes[configuration.hub.name]?.contains(where: {
                $0.lowercased() == configuration.node.name.lowercased()
            }) == true
        {
            add(
                .existingHub,
                "hub '\(configuration.hub.name)' already has a node named '\(configuration.node.name)' (a name is unique in its hub)"
            )
        }
        if draft.proxyNeedsPasswordField, draft.proxyPassword.text.isEmpty,
            draft.engine.upstreamProxyPasswordFile == nil
        {
            let user = ProxyURL(draft.upstreamProxy.value)?.user ?? "the user"
            add(.proxyPassword, "type the password of \(user) (it is never saved with the answers)")
        }
        if !draft.continueAnyway { add(.continueAnyway, "tick it with Space to go on despite the warnings") }
        if !draft.restartUnderstood { add(.restartUnderstood, "tick it with Space to create the switch") }
        if !draft.belowProfileAccepted { add(.belowProfileAccepted, "tick it with Space, or raise the values") }
        if !draft.networkWarningsAccepted {
            add(
                .networkWarningsAccepted,
                "tick it with Space to go on despite the network warnings, or change the answers"
            )
        }

        var issues = configuration.validate(sizing: context.sizing)
        issues += configuration.hostProblems(
            facts: context.facts,
            freeBytesByDrive: freeByDrive(),
            sizing: context.sizing
        )
        issues += PathRules.ownershipProblems(configuration.storage)
        for issue in issues {
            guard let field = field(for: issue.keyPath) else { continue }
            add(field, issue.message + (issue.hint.map { " (\($0))" } ?? ""))
        }
        return errors
    }

    /// Free space at each drive; on a re-run a drive that already holds the cache counts its old size as free.
    package func freeByDrive() -> [Int64?] {
        draft.drives.map { drive in
            guard let free = draft.measured[drive.path.value]?.freeBytes else { return nil }
            let old = context.installed?.storage.drives.first { $0.path == drive.path.value }
            return free + (old?.sizeBytes ?? 0)
        }
    }

    /// The field an answer-file key path is typed in.
    func field(for keyPath: String) -> WizardField? {
        if keyPath.hasPrefix("storage.drives[") {
            let digits = keyPath.dropFirst("storage.drives[".count).prefix { $0.isNumber }
            guard let index = Int(digits) else { return nil }
            return keyPath.hasSuffix(".path") ? .drivePath(index) : .driveSize(index)
        }
        if keyPath.hasPrefix("network.address.dns") { return .dns }
        switch keyPath {
        case "node.name": return .nodeName
        case "network.switch.name": return draft.switchMode == .existing ? .existingSwitch : .newSwitch
        case "network.switch.adapter": return .adapter
        case "network.address.ip": return .ip
        case "network.address.gateway": return .gateway
        case "engine.upstream_proxy", "engine.upstream_proxy_password_file": return .upstreamProxy
        case "storage.state": return .state
        case "resources.memory_gb": return .memory
        case "resources.cores": return .cores
        case _ where keyPath.hasPrefix("hub."): return hubField(for: keyPath)
        case _ where keyPath.hasPrefix("engine.https."): return httpsField(for: keyPath)
        default: return nil
        }
    }

    /// The rule shown under a text field while it is being typed.
    package func rule(_ field: WizardField) -> String? {
        switch field {
        case .nodeName: NameRules.nodeNameRule
        case .newSwitch: NameRules.interfaceNameRule
        case .newHub: NameRules.hubNameRule
        case .ip: "address/prefix, as 10.0.0.50/24"
        case .gateway: "a router inside the node's subnet, as 10.0.0.1"
        case .dns: "one or more, separated by commas, as 10.0.0.2, 10.0.0.3"
        case .upstreamProxy: "blank for none; http://[user@]host:port where the network needs one (the password next)"
        case .proxyPassword:
            draft.engine.upstreamProxyPasswordFile.map { "blank keeps the password in \($0)" }
                ?? "kept only in \(draft.state.value)/upstream-proxy.password"
        case .state, .drivePath: "an absolute path"
        case .driveSize:
            "GB, at least \(HostCheck.format(context.sizing.minimumDriveGB(profile: draft.chosenProfile(context)?.id)))"
        case .memory: context.machineMemoryGB.map { "whole GB, at most \($0)" } ?? "whole GB"
        case .cores: context.facts.cores.map { "at most \($0)" }
        default: hubRule(field) ?? httpsRule(field)
        }
    }
}
