/// Every decision of an install: the schema shared by answer files and the installed configuration.
///
/// `cachenode setup --answers FILE` and `cachenode serve --config FILE` read the same document;
/// see `AnswerFile` for the YAML form and `NodeConfiguration+Validation.swift` for the rules.
package struct NodeConfiguration: Equatable, Sendable {
    package static let currentVersion = 1

    package var version: Int
    package var node: Node
    package var network: Network
    package var storage: Storage
    package var resources: Resources
    package var hub: Hub
    package var engine: Engine

    package init(
        version: Int = NodeConfiguration.currentVersion,
        node: Node,
        network: Network,
        storage: Storage,
        resources: Resources,
        hub: Hub,
        engine: Engine = Engine()
    ) {
        self.version = version
        self.node = node
        self.network = network
        self.storage = storage
        self.resources = resources
        self.hub = hub
        self.engine = engine
    }
}

extension NodeConfiguration {
    /// The cache node's identity; the name is fixed once installed.
    package struct Node: Equatable, Sendable {
        package var name: String

        package init(name: String) {
            self.name = name
        }
    }

    package struct Network: Equatable, Sendable {
        package var `switch`: Switch
        package var address: Address

        package init(switch: Switch, address: Address) {
            self.switch = `switch`
            self.address = address
        }
    }

    /// The Linux bridge the node uses: an existing one, or one created over an adapter.
    package struct Switch: Equatable, Sendable {
        package enum Mode: String, CaseIterable, Sendable {
            case existing
            case create
        }

        package var mode: Mode
        package var name: String
        /// With `.create`, the adapter the new switch takes over; `nil` with `.existing`.
        package var adapter: String?

        package init(mode: Mode, name: String, adapter: String? = nil) {
            self.mode = mode
            self.name = name
            self.adapter = adapter
        }
    }

    /// How the node gets its address: DHCP, or static with ip/prefix, gateway and DNS servers.
    package struct Address: Equatable, Sendable {
        package enum Mode: String, CaseIterable, Sendable {
            case `static`
            case dhcp
        }

        package var mode: Mode
        /// `address/prefix`, as `10.0.0.50/24`; only with `.static`.
        package var ip: String?
        package var gateway: String?
        package var dns: [String]

        package init(mode: Mode, ip: String? = nil, gateway: String? = nil, dns: [String] = []) {
            self.mode = mode
            self.ip = ip
            self.gateway = gateway
            self.dns = dns
        }

        package static let dhcp = Address(mode: .dhcp)
    }

    package struct Storage: Equatable, Sendable {
        package static let defaultState = "/var/lib/cachenode"

        /// Configuration, index, logs and pid files.
        package var state: String
        package var drives: [Drive]

        package init(state: String = Storage.defaultState, drives: [Drive]) {
            self.state = state
            self.drives = drives
        }
    }

    /// One cache drive: a directory and the space the cache may use there.
    package struct Drive: Equatable, Sendable {
        package var path: String
        /// Gigabytes (10^9 bytes); fractions are allowed so tests can use small caches.
        package var sizeGB: Double

        package init(path: String, sizeGB: Double) {
            self.path = path
            self.sizeGB = sizeGB
        }

        package var sizeBytes: Int64 { Int64((sizeGB * 1_000_000_000).rounded(.down)) }
    }

    package struct Resources: Equatable, Sendable {
        package var memoryGB: Int
        package var cores: Int
        /// The sizing profile whose rules apply (`branch`, `large`, `test`); `nil` picks by the machine.
        package var profile: String?

        package init(memoryGB: Int, cores: Int, profile: String? = nil) {
            self.memoryGB = memoryGB
            self.cores = cores
            self.profile = profile
        }
    }

    /// The hub the node joins: one in the local registry (no `url`), or on a hub service elsewhere; or none.
    package struct Hub: Equatable, Sendable {
        package enum Mode: String, CaseIterable, Sendable {
            case existing
            case create
            /// The node joins no hub (`mode: none`): a re-run with it unlinks the node.
            case unlinked = "none"
        }

        package var mode: Mode
        /// Empty with `.unlinked`.
        package var name: String
        /// A hub service elsewhere, as `https://hub.example.org:7000`; `nil` for the registry on this machine.
        package var url: String?
        /// The hub certificate's SHA-256 fingerprint (`cachenode hub info` prints it), pinned.
        package var fingerprint: String?
        /// A CA file (PEM) that issued the hub's certificate, instead of a fingerprint.
        package var caFile: String?
        /// A file (0600) holding a one-time key from `cachenode node create`; read by setup, never copied.
        package var enrolmentKeyFile: String?
        /// A file (0600) holding the hub service's admin token: setup creates the node on the hub and enrols it.
        package var adminTokenFile: String?

        package init(
            mode: Mode,
            name: String,
            url: String? = nil,
            fingerprint: String? = nil,
            caFile: String? = nil,
            enrolmentKeyFile: String? = nil,
            adminTokenFile: String? = nil
        ) {
            self.mode = mode
            self.name = name
            self.url = url
            self.fingerprint = fingerprint
            self.caFile = caFile
            self.enrolmentKeyFile = enrolmentKeyFile
            self.adminTokenFile = adminTokenFile
        }

        /// The node joins no hub.
        package static let unlinked = Hub(mode: .unlinked, name: "")

        /// The hub is the registry on this machine.
        package var isLocal: Bool { url == nil }
    }

    /// The cache engine's listeners, origin access and tuning.
    package struct Engine: Equatable, Sendable {
        package static let defaultListen = "0.0.0.0:80"
        package static let defaultAdmin = "127.0.0.1:5000"
        package static let defaultBlockSizeKB = 1024

        /// What clients' `DOCacheHost` points at.
        package var listen: String
        /// `/health`, `/status`, `/metrics`.
        package var admin: String
        /// `http://host:port` when the network requires a proxy to reach the CDN.
        package var upstreamProxy: String?
        /// A file (mode 0600) holding the proxy's password, so that it is in no configuration; the URL names the user.
        package var upstreamProxyPasswordFile: String?
        /// Hosts added to the origin allowlist, for example `127.0.0.1` in tests.
        package var extraOrigins: [String]
        /// The unit the cache fetches and stores, in KiB (default 1 MiB, the clients' piece size).
        package var blockSizeKB: Int
        /// Open client connections at most; more are refused at accept.
        package var maxConnections: Int
        package var originConnectTimeoutSeconds: Int
        package var originReadTimeoutSeconds: Int
        /// A keep-alive connection idle this long, or a client this slow to send its request, is closed.
        package var idleTimeoutSeconds: Int
        /// Origin connections one run of missing blocks is fetched over at once, each for its own part: one CDN
        /// connection over a WAN gives a few hundred Mbit/s whatever the link carries.
        package var fillConnections: Int
        /// How long past its freshness a stored object is still served when its origin cannot be reached to
        /// revalidate it (0: never); an origin's `must-revalidate` or `no-cache` always wins.
        package var staleIfErrorSeconds: Int
        /// CAs (PEM) trusted for origins fetched over HTTPS, besides the system's.
        package var originCAFile: String?
        /// The TLS listener for clients; `nil`: plain HTTP only.
        package var https: HTTPS?

        package init(
            listen: String = Engine.defaultListen,
            admin: String = Engine.defaultAdmin,
            upstreamProxy: String? = nil,
            upstreamProxyPasswordFile: String? = nil,
            extraOrigins: [String] = [],
            blockSizeKB: Int = Engine.defaultBlockSizeKB,
            maxConnections: Int = 20_000,
            originConnectTimeoutSeconds: Int = 5,
            originReadTimeoutSeconds: Int = 15,
            idleTimeoutSeconds: Int = 60,
            fillConnections: Int = 4,
            staleIfErrorSeconds: Int = 86_400,
            originCAFile: String? = nil,
            https: HTTPS? = nil
        ) {
            self.listen = listen
            self.admin = admin
            self.upstreamProxy = upstreamProxy
            self.upstreamProxyPasswordFile = upstreamProxyPasswordFile
            self.extraOrigins = extraOrigins
            self.blockSizeKB = blockSizeKB
            self.maxConnections = maxConnections
            self.originConnectTimeoutSeconds = originConnectTimeoutSeconds
            self.originReadTimeoutSeconds = originReadTimeoutSeconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.fillConnections = fillConnections
            self.staleIfErrorSeconds = staleIfErrorSeconds
            self.originCAFile = originCAFile
            self.https = https
        }
    }

    /// The engine's TLS listener (`engine.https`): the same requests as on plain HTTP, over TLS 1.2 and 1.3.
    ///
    /// The certificate and key files may be missing at first (a request made, the certificate not yet signed): the
    /// listener then refuses handshakes, the node is degraded, and the files are picked up once they appear.
    package struct HTTPS: Equatable, Sendable {
        package static let defaultListen = "0.0.0.0:443"
        package static let defaultHandshakeTimeoutSeconds = 10

        /// Where the TLS listener binds.
        package var listen: String
        /// The node's certificate (PEM); further certificates in the file are its chain.
        package var certificateFile: String
        /// The certificate's private key (PEM, mode 0600, readable by the engine's user only).
        package var keyFile: String
        /// Intermediate CA certificates (PEM) sent after the node's certificate, when not in `certificateFile`.
        package var chainFile: String?
        /// The names and addresses clients put in `DOCacheHost`, which the certificate must cover; empty: the node's
        /// own `DOCacheHost` value (its static address, or its host name).
        package var names: [String]
        /// A client that has not finished its TLS handshake in this many seconds is cut.
        package var handshakeTimeoutSeconds: Int

        package init(
            listen: String = HTTPS.defaultListen,
            certificateFile: String,
            keyFile: String,
            chainFile: String? = nil,
            names: [String] = [],
            handshakeTimeoutSeconds: Int = HTTPS.defaultHandshakeTimeoutSeconds
        ) {
            self.listen = listen
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.chainFile = chainFile
            self.names = names
            self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
        }

        /// The files `cachenode cert request` writes and `cachenode cert install` fills, under the state directory.
        package static func defaultFiles(state: String) -> (certificate: String, key: String, request: String) {
            let directory = (state.hasSuffix("/") ? String(state.dropLast()) : state) + "/tls"
            return (directory + "/certificate.pem", directory + "/key.pem", directory + "/request.csr")
        }
    }
}
