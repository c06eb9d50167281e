import CacheNodeCore

extension Wizard {
    /// The inputs of the hub step: a hub on this machine (one to pick, or one to make), or a hub service elsewhere
    /// (its address and certificate, how the node joins it, the key or token, then the hub).
    var hubFields: [WizardField] {
        switch draft.hubPlace {
        case .local:
            return [.hubMode, draft.hubMode == .create ? .newHub : .existingHub]
        case .service:
            var fields: [WizardField] = [.hubMode, .hubURL, .hubCertificate, .hubJoin, .hubSecret]
            switch draft.hubJoin {
            case .enrolmentKey: fields.append(.keyHub)
            case .adminTokenNewHub: fields.append(.newHub)
            case .adminToken:
                // The admin token lists the hubs: the pick follows the check.
                if currentHubCheck?.hubs != nil || !draft.serviceHubs.isEmpty { fields.append(.existingHub) }
            }
            return fields
        }
    }

    /// The hubs to pick from: this machine's, or those the hub service listed for the admin token.
    var hubOptions: [WizardContext.Choice] {
        draft.hubPlace == .local ? context.hubChoices : draft.serviceHubs.map { WizardContext.Choice($0) }
    }

    /// The nodes each hub already has, where the hub is.
    var hubNodes: [String: [String]] {
        draft.hubPlace == .local ? context.nodesByHub : draft.serviceNodesByHub
    }

    /// The link stays as installed: the same service and hub, so no key or token is needed.
    var hubLinkUnchanged: Bool {
        guard let installed = context.installed?.hub, let url = installed.url else { return false }
        let hub = draft.hub(context)
        return hub.url == url && hub.name.lowercased() == installed.name.lowercased()
    }

    /// What only the wizard can tell about the hub step's fields (the answer-file rules come on top).
    func hubErrors() -> [(WizardField, String)] {
        var errors: [(WizardField, String)] = []
        if hubOptions.isEmpty {
            errors.append(
                (
                    .existingHub,
                    draft.hubPlace == .local
                        ? "no hub is known yet: create one" : "the hub service has no hub yet: create one"
                )
            )
        }
        let creating = draft.hubPlace == .local ? draft.hubMode == .create : draft.hubJoin == .adminTokenNewHub
        if creating, hubOptions.contains(where: { $0.value.lowercased() == draft.newHub.value.lowercased() }) {
            errors.append((.newHub, "a hub named '\(draft.newHub.value)' already exists (answer yes and pick it)"))
        }
        guard draft.hubPlace == .service else { return errors }
        if draft.hubURL.value.isEmpty {
            errors.append((.hubURL, "type the hub service's address, as https://hub.example.org:7000"))
        }
        if draft.hubCertificate.value.isEmpty, HubURL(draft.hubURL.value)?.isSecure != false {
            errors.append(
                (.hubCertificate, "give the fingerprint `cachenode hub info` prints on the hub, or a CA file")
            )
        }
        if draft.hubSecret.text.isEmpty, !hubLinkUnchanged {
            let admin = draft.hubJoin != .enrolmentKey
            errors.append(
                (
                    .hubSecret,
                    admin
                        ? "type the hub's admin token (<state>/hub-admin-token on the hub)"
                        : "type the one-time key `cachenode node create` printed"
                )
            )
        }
        if let check = currentHubCheck {
            if let problem = check.urlProblem { errors.append((.hubURL, problem)) }
            if let problem = check.trustProblem { errors.append((.hubCertificate, problem)) }
            if let problem = check.secretProblem { errors.append((.hubSecret, problem)) }
        }
        return errors
    }

    /// The field a `hub.*` key path is typed in.
    func hubField(for keyPath: String) -> WizardField? {
        switch keyPath {
        case "hub.url": return .hubURL
        case "hub.fingerprint", "hub.ca_file": return .hubCertificate
        case "hub.enrolment_key_file", "hub.admin_token_file": return .hubJoin
        case "hub.name":
            guard draft.hubPlace == .service else { return draft.hubMode == .create ? .newHub : .existingHub }
            switch draft.hubJoin {
            case .enrolmentKey: return .keyHub
            case .adminToken: return .existingHub
            case .adminTokenNewHub: return .newHub
            }
        default: return nil
        }
    }

    /// The rule shown under a hub step's text field while it is typed in.
    func hubRule(_ field: WizardField) -> String? {
        switch field {
        case .hubURL: "https://HOST:PORT, as `cachenode hub serve` prints it on the hub"
        case .hubCertificate: "the SHA-256 fingerprint (`cachenode hub info` on the hub), or the path of a CA file"
        case .hubSecret:
            (draft.hubJoin != .enrolmentKey
                ? "the admin token, from <state>/hub-admin-token on the hub"
                : "the one-time key `cachenode node create` printed")
                + (hubLinkUnchanged ? "; blank keeps the current link" : "; never saved")
        case .keyHub: "the hub the node was created in (node create --hub)"
        default: nil
        }
    }
}
