import CacheNodeCore

extension Wizard {
    /// The choices of the HTTPS step, in the order of `HTTPSDraft.Mode`.
    static let httpsOptions: [WizardContext.Choice] = [
        .init("Off", detail: "plain HTTP only"),
        .init("Make a certificate request now, finish later", detail: "signed by your organisation's CA"),
        .init("Use these files", detail: "a certificate and key you already have"),
    ]

    /// The inputs of the HTTPS step: the choice, then the files (when given), the listen address and the names.
    var httpsFields: [WizardField] {
        switch draft.https.mode {
        case .off: [.httpsMode]
        case .request: [.httpsMode, .httpsListen, .httpsNames]
        case .files: [.httpsMode, .certificateFile, .keyFile, .chainFile, .httpsListen, .httpsNames]
        }
    }

    mutating func selectHTTPSMode(_ index: Int) {
        draft.https.mode = HTTPSDraft.Mode(rawValue: index) ?? .off
        draft.https.inspectFiles(context, state: draft.state.value)
    }

    func httpsText(_ field: WizardField) -> TextField {
        switch field {
        case .httpsListen: draft.https.listen
        case .httpsNames: draft.https.names
        case .certificateFile: draft.https.certificateFile
        case .keyFile: draft.https.keyFile
        case .chainFile: draft.https.chainFile
        default: TextField()
        }
    }

    mutating func setHTTPSText(_ field: WizardField, _ value: TextField) {
        switch field {
        case .httpsListen: draft.https.listen = value
        case .httpsNames: draft.https.names = value
        case .certificateFile: draft.https.certificateFile = value
        case .keyFile: draft.https.keyFile = value
        case .chainFile: draft.https.chainFile = value
        default: break
        }
    }

    /// The node's `DOCacheHost` value without its port: the name a certificate needs when no names are typed.
    package var defaultCertificateName: String {
        var configuration = draft.configuration(context)
        configuration.engine.https = nil
        return CertificateRules.requiredNames(configuration, hostName: context.hostName).first ?? context.hostName
    }

    /// The names the certificate must cover for these answers.
    package var requiredCertificateNames: [String] {
        CertificateRules.requiredNames(draft.configuration(context), hostName: context.hostName)
    }

    /// What only the wizard can tell about the HTTPS step's fields: a path left blank, a file that is missing,
    /// unreadable or no PEM of its kind (the answer-file rules come on top).
    func httpsErrors() -> [(WizardField, String)] {
        guard draft.https.mode == .files else { return [] }
        var errors: [(WizardField, String)] = []
        if draft.https.certificateFile.value.isEmpty {
            errors.append((.certificateFile, "type the path of the certificate file (PEM)"))
        }
        if draft.https.keyFile.value.isEmpty {
            errors.append((.keyFile, "type the path of the certificate's private key (PEM)"))
        }
        let files: [(WizardField, TextField, String, String)] = [
            (.certificateFile, draft.https.certificateFile, "certificate", "CERTIFICATE"),
            (.keyFile, draft.https.keyFile, "private key", "PRIVATE KEY"),
            (.chainFile, draft.https.chainFile, "certificate", "CERTIFICATE"),
        ]
        for (field, path, what, label) in files {
            guard let facts = draft.https.files[path.value], let problem = facts.problem(as: what, label: label)
            else { continue }
            errors.append((field, "\(path.value): \(problem)"))
        }
        return errors
    }

    /// The field an `engine.https.*` key path is typed in.
    func httpsField(for keyPath: String) -> WizardField? {
        if keyPath.hasPrefix("engine.https.names") { return .httpsNames }
        switch keyPath {
        case "engine.https.listen": return .httpsListen
        case "engine.https.certificate_file": return .certificateFile
        case "engine.https.key_file": return .keyFile
        case "engine.https.chain_file": return .chainFile
        default: return nil
        }
    }

    /// The rule shown under an HTTPS text field while it is typed in.
    func httpsRule(_ field: WizardField) -> String? {
        switch field {
        case .httpsListen:
            "address:port for HTTPS clients, as \(context.proposedHTTPSListen)"
        case .httpsNames:
            "blank: \(defaultCertificateName), the node's DOCacheHost value; else every name clients use, "
                + "comma-separated"
        case .certificateFile: "an absolute path: the certificate (PEM), its chain after it or in the chain file"
        case .keyFile: "an absolute path: the certificate's private key (PEM), readable by root only"
        case .chainFile: "blank when the certificate file holds the chain; else the intermediate CAs (PEM)"
        default: nil
        }
    }
}
