import CacheNodeCore

/// Where the hub is: the registry on this machine, or a hub service on another machine.
package enum HubPlace: Equatable, Sendable {
    case local
    case service
}

/// How the node joins a hub service.
package enum HubJoin: Equatable, Sendable {
    /// A one-time key from `cachenode node create` on the hub.
    case enrolmentKey
    /// The hub's admin token and one of its hubs: setup creates the node there.
    case adminToken
    /// The hub's admin token and a new hub: setup creates the hub, then the node.
    case adminTokenNewHub
}

/// What the hub step checks at once, before the wizard goes on: that the service answers at its address over a
/// connection its certificate pins, and with an admin token, the hubs it has. A one-time key is never sent: it works
/// once, at the install.
package struct HubCheckRequest: Equatable, Sendable {
    package var url: String
    package var fingerprint: String?
    package var caFile: String?
    /// The admin token, to list the hubs; `nil` with a one-time key.
    package var adminToken: String?

    package init(url: String, fingerprint: String? = nil, caFile: String? = nil, adminToken: String? = nil) {
        self.url = url
        self.fingerprint = fingerprint
        self.caFile = caFile
        self.adminToken = adminToken
    }
}

/// What the check found: a problem per field, or the service's hubs.
package struct HubCheckResult: Equatable, Sendable {
    /// The address does not answer (or is no hub service).
    package var urlProblem: String?
    /// The certificate is not the pinned one (both fingerprints named), or the CA file does not vouch for it.
    package var trustProblem: String?
    /// The admin token was refused.
    package var secretProblem: String?
    /// The hubs an admin token listed, and the nodes each already has.
    package var hubs: [String]?
    package var nodesByHub: [String: [String]]

    package init(
        urlProblem: String? = nil,
        trustProblem: String? = nil,
        secretProblem: String? = nil,
        hubs: [String]? = nil,
        nodesByHub: [String: [String]] = [:]
    ) {
        self.urlProblem = urlProblem
        self.trustProblem = trustProblem
        self.secretProblem = secretProblem
        self.hubs = hubs
        self.nodesByHub = nodesByHub
    }
}

/// The hub service the command line names (`--hub-url`, `--hub-fingerprint` or `--hub-ca`, `--hub-token`): the hub
/// step starts from it.
package struct HubServicePrefill: Equatable, Sendable {
    package var url: String
    /// A fingerprint, or the path of a CA file.
    package var certificate: String
    package var adminToken: String?

    package init(url: String, certificate: String, adminToken: String?) {
        self.url = url
        self.certificate = certificate
        self.adminToken = adminToken
    }
}
