import CacheNodeCore

/// The HTTPS step's answers as typed: the choice, and the fields of both ways to a certificate, kept while the
/// operator switches between them.
package struct HTTPSDraft: Equatable, Sendable {
    /// How the node gets the certificate it serves HTTPS with.
    package enum Mode: Int, CaseIterable, Equatable, Sendable {
        /// Plain HTTP only.
        case off
        /// The install makes a key and a certificate request under the state directory; `cachenode cert install`
        /// finishes once the organisation's CA signed it.
        case request
        /// A certificate and key the operator already has.
        case files
    }

    package var mode = Mode.off
    package var listen: TextField
    /// The names clients use in `DOCacheHost`, separated by commas; blank: the node's own `DOCacheHost` value.
    package var names = TextField()
    package var certificateFile = TextField()
    package var keyFile = TextField()
    /// Blank: the chain is in the certificate file, or the CA signed it directly.
    package var chainFile = TextField()
    /// No field sets it: an installed or saved value is kept as it is.
    package var handshakeTimeoutSeconds = NodeConfiguration.HTTPS.defaultHandshakeTimeoutSeconds
    /// What the probe found at each file path typed, so the step can tell a missing or unreadable file at once.
    package var files: [String: FileFacts] = [:]

    /// A new install's answer: off, with the listen address a request or files would use.
    init(listen: String) {
        self.listen = TextField(listen)
    }

    /// The answer an installed or saved configuration gave: the default files under its state directory were a
    /// request made by setup, any other files were given.
    init(_ https: NodeConfiguration.HTTPS?, state: String, proposedListen: String) {
        self.init(listen: proposedListen)
        guard let https else { return }
        let defaults = NodeConfiguration.HTTPS.defaultFiles(state: state)
        let isRequest = https.certificateFile == defaults.certificate && https.keyFile == defaults.key
        mode = isRequest && https.chainFile == nil ? .request : .files
        listen = TextField(https.listen)
        names = TextField(https.names.joined(separator: ", "))
        if mode == .files {
            certificateFile = TextField(https.certificateFile)
            keyFile = TextField(https.keyFile)
            chainFile = TextField(https.chainFile ?? "")
        }
        handshakeTimeoutSeconds = https.handshakeTimeoutSeconds
    }

    /// `engine.https` for these answers; `nil` when off. A request uses the default files under `state`.
    func configuration(state: String) -> NodeConfiguration.HTTPS? {
        let certificate: String
        let key: String
        switch mode {
        case .off:
            return nil
        case .request:
            (certificate, key, _) = NodeConfiguration.HTTPS.defaultFiles(state: state)
        case .files:
            (certificate, key) = (certificateFile.value, keyFile.value)
        }
        return NodeConfiguration.HTTPS(
            listen: listen.value,
            certificateFile: certificate,
            keyFile: key,
            chainFile: mode == .files && !chainFile.value.isEmpty ? chainFile.value : nil,
            names: WizardDraft.list(names.value),
            handshakeTimeoutSeconds: handshakeTimeoutSeconds
        )
    }

    /// The file paths the probe looks at: the files given, or the certificate a request leads to (once installed,
    /// a re-run says it is kept).
    func paths(state: String) -> [String] {
        switch mode {
        case .off: []
        case .request: [NodeConfiguration.HTTPS.defaultFiles(state: state).certificate]
        case .files: [certificateFile.value, keyFile.value, chainFile.value].filter { !$0.isEmpty }
        }
    }

    /// Looks at each file path anew (a file copied into place meanwhile counts), through the context's probe.
    mutating func inspectFiles(_ context: WizardContext, state: String) {
        for path in paths(state: state) { inspect(path, context) }
    }

    /// Looks at one path, when it is one the answers may use.
    mutating func inspect(_ path: String, _ context: WizardContext) {
        guard PathRules.problem(path) == nil else { return }
        files[path] = context.inspectFile(path)
    }
}
