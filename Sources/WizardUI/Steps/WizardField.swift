/// One input on a step's screen.
package enum WizardField: Hashable, Sendable {
    case continueAnyway
    case nodeName
    case switchMode
    case existingSwitch
    case newSwitch
    case adapter
    case restartUnderstood
    case addressMode
    case ip
    case gateway
    case dns
    case upstreamProxy
    /// The proxy user's password: shown as asterisks, kept out of every configuration.
    case proxyPassword
    case state
    case drivePath(Int)
    case driveSize(Int)
    case addDrive
    case profile
    case memory
    case cores
    case belowProfileAccepted
    /// Ticked once the operator read the network checks' warnings.
    case networkWarningsAccepted
    case hubMode
    case hubURL
    /// The hub certificate's fingerprint, or the path of a CA file.
    case hubCertificate
    /// A one-time key, or the admin token.
    case hubJoin
    /// The key or token itself: shown as asterisks, never saved.
    case hubSecret
    /// The hub a one-time key's node was created in.
    case keyHub
    case existingHub
    case newHub
    /// Off, a certificate request made now, or files the operator has.
    case httpsMode
    case httpsListen
    /// The names clients use in `DOCacheHost`, which the certificate must cover.
    case httpsNames
    case certificateFile
    case keyFile
    case chainFile

    /// How the field takes keys.
    package enum Kind: Equatable, Sendable {
        case text
        /// A numbered list of this many entries.
        case choice(Int)
        case checkbox
        case button
    }

    /// The label shown before the field.
    package var label: String {
        switch self {
        case .continueAnyway: "Continue anyway despite the warnings"
        case .nodeName: "Node name"
        case .switchMode: "Create a new switch or use an existing one?"
        case .existingSwitch: "Switch"
        case .newSwitch: "New switch name"
        case .adapter: "Adapter the switch takes over"
        case .restartUnderstood: "Continue anyway: the network restarts when the switch is created"
        case .addressMode: "Address"
        case .ip: "Address/prefix"
        case .gateway: "Gateway"
        case .dns: "DNS servers"
        case .upstreamProxy: "Upstream proxy"
        case .proxyPassword: "Proxy password"
        case .state: "State directory"
        case .drivePath(let index): "Drive \(index + 1) path"
        case .driveSize(let index): "Drive \(index + 1) size (GB)"
        case .addDrive: "[ add a drive ]"
        case .profile: "Profile"
        case .memory: "Memory (GB)"
        case .cores: "Cores"
        case .belowProfileAccepted: "Continue anyway below the profile"
        case .networkWarningsAccepted: "Continue anyway: I have read the network warnings"
        case .hubMode: "Do you already have a hub?"
        case .hubURL: "Hub service address"
        case .hubCertificate: "Certificate"
        case .hubJoin: "Join with"
        case .hubSecret: "Key or token"
        case .keyHub: "Hub the node is in"
        case .existingHub: "Hub"
        case .newHub: "New hub name"
        case .httpsMode: "Serve HTTPS to clients?"
        case .httpsListen: "HTTPS listen"
        case .httpsNames: "Names clients use"
        case .certificateFile: "Certificate file"
        case .keyFile: "Key file"
        case .chainFile: "Chain file"
        }
    }
}
