import ArgumentParser
import CacheNodeCore
import Foundation
import Installer
import Logging
import Management
import ServiceLifecycle

/// Where the local registry lives: `<root><state>/registry.sqlite`.
struct RegistryOptions: ParsableArguments {
    @Option(help: "The root CacheNode is installed under (as given to setup --root).")
    var root: String = "/"

    @Option(help: "The state directory that holds the registry.")
    var state: String = NodeConfiguration.Storage.defaultState

    var layout: InstallLayout { InstallLayout(root: FileSystem.absolute(root), state: state) }

    func open() throws(CommandFailure) -> Registry {
        do {
            try FileSystem.makeDirectories(layout.stateDirectory)
            return try Registry(path: layout.stateDirectory + "/registry.sqlite")
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }
}

struct HubCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Group cache nodes in hubs and see the fleet.",
        subcommands: [
            HubCreateCommand.self, HubListCommand.self, HubNodesCommand.self, HubServeCommand.self, HubInfoCommand.self,
        ]
    )
}

struct HubCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a hub.")

    @Argument(help: "The hub's name: \(NameRules.hubNameRule).")
    var name: String

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        do {
            _ = try registry.open().createHub(name)
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        print("Created hub \(name).")
    }
}

struct HubListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the hubs.")

    @OptionGroup var registry: RegistryOptions

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let hubs: [HubRecord]
        do { hubs = try registry.open().hubs() } catch { throw CommandFailure(.failure, "\(error)") }
        if json {
            print(String(decoding: try HubJSON.encoder.encode(hubs), as: UTF8.self))
            return
        }
        if hubs.isEmpty {
            print("No hubs yet: cachenode hub create NAME")
            return
        }
        print(
            TextTable.render(
                [["HUB", "NODES", "CREATED"]]
                    + hubs.map { [$0.name, "\($0.nodes)", ISO8601DateFormatter().string(from: $0.createdAt)] }
            )
        )
    }
}

struct HubNodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Show the fleet: each node's state and reasons, last report, traffic and disk use.",
        discussion: """
            Trouble first: failing, offline, degraded, pending, serving. A node's state is the health it reports, or \
            offline when it is silent for three report intervals. --json adds each node's issues of the last 90 days.
            """
    )

    @Argument(help: "Only this hub's nodes.")
    var hub: String?

    @OptionGroup var registry: RegistryOptions

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let records: [NodeRecord]
        let issues: [FleetIssue]
        do {
            let database = try registry.open()
            records = try database.nodes(hub: hub)
            issues = json ? try database.issues(hub: hub, limit: .max) : []
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        let now = Date()
        let byNode = Dictionary(grouping: issues) { "\($0.hub)/\($0.node)".lowercased() }
        let nodes = FleetNode.troubleFirst(
            records.map {
                FleetNode($0, now: now, issues: byNode["\($0.hub)/\($0.name)".lowercased(), default: []].map(\.issue))
            }
        )
        let recordsByNode = Dictionary(records.map { ("\($0.hub)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        if json {
            // `node` as before, and beside it the fleet view's fields (as `/v1/fleet` gives them) with the issues.
            struct Row: Encodable {
                var node: NodeRecord?
                var fleet: FleetNode

                enum CodingKeys: String, CodingKey { case node }

                func encode(to encoder: any Encoder) throws {
                    var container = encoder.container(keyedBy: CodingKeys.self)
                    try container.encode(node, forKey: .node)
                    try fleet.encode(to: encoder)
                }
            }
            let rows = nodes.map { Row(node: recordsByNode["\($0.hub)/\($0.name)"], fleet: $0) }
            print(String(decoding: try HubJSON.encoder.encode(rows), as: UTF8.self))
            return
        }
        guard !nodes.isEmpty else {
            print("No nodes yet: cachenode node create NAME --hub HUB")
            return
        }
        var rows = [
            [
                "NODE", "HUB", "STATE", "LAST REPORT", "VERSION", "HIT RATIO", "FROM CACHE", "FROM ORIGIN", "DISK USED",
                "PEAK EGRESS",
            ]
        ]
        for node in nodes {
            let report = recordsByNode["\(node.hub)/\(node.name)"]?.lastReport
            rows.append([
                node.name, node.hub, node.state.rawValue,
                node.lastReportAgeSeconds.map { "\($0)s ago" } ?? "never",
                report?.version ?? "-",
                report.map { String(format: "%.1f%%", $0.hitRatio * 100) } ?? "-",
                report.map { ByteCount.format($0.bytesFromCache) } ?? "-",
                report.map { ByteCount.format($0.bytesFromOrigin) } ?? "-",
                report.map { ByteCount.format($0.diskUsedBytes.values.reduce(0, +)) } ?? "-",
                report.map { String(format: "%.2f Gbps", $0.peakEgressBitsPerSecond / 1e9) } ?? "-",
            ])
        }
        print(TextTable.render(rows))
        let secured = nodes.filter { $0.https != nil }
        if !secured.isEmpty {
            print("\nHTTPS certificates:")
            for node in secured {
                print("  \(node.name) (\(node.hub)): \(node.https?.summary(now: now) ?? "-")")
            }
        }
        let reasons = nodes.filter { !$0.reasons.isEmpty }
        guard !reasons.isEmpty else { return }
        print("")
        for node in reasons {
            for reason in node.reasons {
                print("\(node.name) (\(node.hub)), \(node.state.rawValue): \(reason.detail)")
                print("    what to do: \(reason.action)")
            }
        }
    }
}

/// The hub service's TLS files: the operator's, or the self-signed pair in the state directory.
struct HubTLSOptions: ParsableArguments {
    @Option(help: "The hub's TLS certificate (PEM), instead of the self-signed one made at first start.")
    var tlsCert: String?

    @Option(help: "The key of --tls-cert (PEM).")
    var tlsKey: String?

    @Option(help: "A name or address nodes reach the hub at, written into the self-signed certificate (repeatable).")
    var tlsName: [String] = []

    static func directory(_ layout: InstallLayout) -> String { layout.stateDirectory + "/hub-tls" }

    func identity(_ layout: InstallLayout, listen: ListenAddress?) throws(CommandFailure) -> HubIdentity {
        do {
            switch (tlsCert, tlsKey) {
            case (.some(let cert), .some(let key)):
                return try HubIdentity.load(certificate: cert, key: key)
            case (nil, nil):
                var names = tlsName
                if names.isEmpty {
                    names = [currentHostName()]
                    if let host = listen?.host, let address = IPAddress(host), address.scope != .unspecified {
                        names.append(host)
                    }
                }
                return try HubIdentity.loadOrCreate(directory: Self.directory(layout), names: names)
            default:
                throw CommandFailure(.invalid, "give --tls-cert and --tls-key together")
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }
}

struct HubServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the hub as an HTTPS/JSON service that nodes on other machines enrol and report to.",
        discussion: """
            The admin token is kept in <state>/hub-admin-token (created on first start, mode 0600). The service speaks \
            TLS with a self-signed certificate made at first start in <state>/hub-tls (or --tls-cert/--tls-key); it \
            prints the certificate's fingerprint, which nodes pin with `node enrol --hub-fingerprint`. Plain HTTP \
            (--plain-http) is allowed on loopback only.
            """
    )

    @Option(help: "Address and port to listen on, as 127.0.0.1:7000 or 0.0.0.0:7000.")
    var listen: String = "127.0.0.1:7000"

    @Flag(help: "Serve plain HTTP instead of TLS; only with a loopback --listen address.")
    var plainHTTP = false

    @OptionGroup var tls: HubTLSOptions

    @OptionGroup var registry: RegistryOptions

    @Option(
        help: ArgumentHelp(
            "An address to POST a JSON alert to when a node becomes degraded, failing or offline, and when it recovers (repeatable).",
            valueName: "url"
        )
    )
    var alertWebhook: [String] = []

    @Option(
        help: "A file holding the secret that signs each alert (X-CacheNode-Signature: sha256=HMAC-SHA256 of the body)."
    )
    var alertWebhookSecretFile: String?

    func run() async throws {
        var logger = Logger(label: "cachenode.hub")
        logger.logLevel = .info
        let alerts = try alertDispatcher(logger: logger)
        guard let address = ListenAddress(listen) else {
            throw CommandFailure(.invalid, "--listen: '\(listen)' is not address:port")
        }
        if plainHTTP && address.address?.scope != .loopback && address.host != "localhost" {
            throw CommandFailure(
                .invalid,
                "--plain-http: \(listen) is not a loopback address; keys and tokens would cross the network in the clear"
            )
        }
        let identity = plainHTTP ? nil : try tls.identity(registry.layout, listen: address)
        let database = try registry.open()
        let tokenPath = registry.layout.stateDirectory + "/hub-admin-token"
        var token = (try? TextFile.read(tokenPath))?.trimmingCharacters(in: " \n") ?? ""
        if token.isEmpty {
            token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            try FileSystem.writeAtomically(tokenPath, Array((token + "\n").utf8), mode: 0o600)
        }
        let service = HubService(registry: database, adminToken: token, logger: logger, alerts: alerts)
        let runner = HubServiceRunner(service: service, address: address, tls: identity) { port in
            let bound = ListenAddress(host: address.host, port: port)
            if let identity {
                print("Hub service listening on https://\(bound); admin token in \(tokenPath)")
                print("Certificate \(identity.certificatePath), fingerprint \(identity.fingerprint)")
                print(
                    "Nodes enrol with: cachenode node enrol --hub-url https://HOST:\(port) --hub-fingerprint \(identity.fingerprint) ..."
                )
            } else {
                print("Hub service listening on http://\(bound) (loopback only); admin token in \(tokenPath)")
            }
            if let alerts {
                print("Alerts go to \(alerts.destinations.joined(separator: ", "))\(alerts.isSigned ? ", signed" : "")")
            }
            fflush(nil)  // at once, also when the output is a file or a pipe
        }
        // SIGTERM or SIGINT: stop accepting, answer the requests in flight (at most 10 s), then exit 0.
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: runner)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// The hub service as a `Service` of `hub serve`'s group.
struct HubServiceRunner: Service {
    var service: HubService
    var address: ListenAddress
    var tls: HubIdentity?
    var onBound: @Sendable (Int) -> Void

    func run() async throws {
        try await service.run(host: address.host, port: address.port, tls: tls, onBound: onBound)
    }
}

extension HubServeCommand {
    /// The webhooks' dispatcher, checked before anything starts; `nil` without `--alert-webhook`.
    func alertDispatcher(logger: Logger) throws(CommandFailure) -> AlertDispatcher? {
        if alertWebhookSecretFile != nil && alertWebhook.isEmpty {
            throw CommandFailure(.invalid, "--alert-webhook-secret-file needs at least one --alert-webhook")
        }
        do {
            let secret = try alertWebhookSecretFile.map { path throws(AlertError) in
                try AlertDispatcher.secret(file: path)
            }
            return alertWebhook.isEmpty ? nil : try AlertDispatcher(urls: alertWebhook, secret: secret, logger: logger)
        } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
    }
}

struct HubInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the hub service's certificate fingerprint, which nodes pin when they enrol.",
        discussion: "Makes the self-signed certificate now if `hub serve` has not yet."
    )

    @OptionGroup var tls: HubTLSOptions

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let identity = try tls.identity(registry.layout, listen: nil)
        print("Certificate: \(identity.certificatePath)")
        print("Fingerprint: \(identity.fingerprint)")
        print("Admin token: \(registry.layout.stateDirectory)/hub-admin-token")
    }
}

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Register cache nodes in a hub.",
        subcommands: [NodeCreateCommand.self, NodeListCommand.self, NodeDeleteCommand.self, NodeEnrolCommand.self]
    )
}

struct NodeCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Add a node to a hub; prints the one-time key the node enrols with.",
        discussion: "Node names are unique in their hub and cannot be changed later."
    )

    @Argument(help: "The node's name: \(NameRules.nodeNameRule).")
    var name: String

    @Option(help: "The hub the node belongs to.")
    var hub: String

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let key: String
        do { key = try registry.open().createNode(name, hub: hub) } catch { throw CommandFailure(.invalid, "\(error)") }
        print("Created node \(name) in hub \(hub).")
        print("One-time enrolment key: \(key)")
    }
}

struct NodeListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the nodes.")

    @Option(help: "Only this hub's nodes.")
    var hub: String?

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let nodes: [NodeRecord]
        do { nodes = try registry.open().nodes(hub: hub) } catch { throw CommandFailure(.failure, "\(error)") }
        let now = Date()
        print(
            TextTable.render(
                [["NODE", "HUB", "STATE", "ENROLLED"]]
                    + nodes.map { [$0.name, $0.hub, $0.state(now: now).rawValue, $0.enrolled ? "yes" : "no"] }
            )
        )
    }
}

struct NodeDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a node and its reports. This cannot be undone.",
        discussion: "Asks you to type the node's name; --yes skips the question for scripts."
    )

    @Argument var name: String

    @Option(help: "The hub the node belongs to.")
    var hub: String

    @Flag(help: "Do not ask.")
    var yes = false

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let database = try registry.open()
        if !yes {
            print(
                "Deleting node \(name) of hub \(hub) is irreversible: its registration and reports are removed for good."
            )
            print("Type the node's name to confirm: ", terminator: "")
            guard readLine()?.trimmingCharacters(in: " ") == name else {
                throw CommandFailure(.failure, "the name did not match; nothing was deleted")
            }
        }
        do { try database.deleteNode(name, hub: hub) } catch { throw CommandFailure(.failure, "\(error)") }
        print("Deleted node \(name) of hub \(hub).")
    }
}

/// Aligned text columns.
enum TextTable {
    static func render(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

struct NodeEnrolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrol",
        abstract: "Link this node to a hub service with the one-time key from `node create`.",
        discussion: """
            The running engine takes the link at once (a reload: systemctl reload cachenode, or a signal to the \
            engine of a --root install): its first report goes out now, then one every interval. A hub that is down \
            never disturbs serving.
            """
    )

    @Option(help: "The hub service, as https://hub.example.org:7000 (http:// on loopback only).")
    var hubURL: String

    @Option(help: "The hub certificate's SHA-256 fingerprint, as `cachenode hub info` prints it on the hub.")
    var hubFingerprint: String?

    @Option(help: "A CA file (PEM) that issued the hub's certificate, instead of --hub-fingerprint.")
    var hubCa: String?

    @Option(help: "The hub the node was created in.")
    var hub: String

    @Option(help: "The node's name, as created in the hub.")
    var node: String

    @Option(help: "The one-time enrolment key.")
    var key: String

    @Option(help: "Seconds between reports.")
    var interval: Int = 60

    @OptionGroup var registry: RegistryOptions

    func run() async throws {
        guard interval >= 1 else { throw CommandFailure(.invalid, "--interval must be at least 1 second") }
        let trust: HubTrust
        do { trust = try HubTrust.from(fingerprint: hubFingerprint, caFile: hubCa) } catch {
            throw CommandFailure(.invalid, "\(error)")
        }
        let token: String
        do {
            token = try await HubClient(baseURL: hubURL, trust: trust).enrol(node: node, hub: hub, key: key)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        let link = HubLink(url: hubURL, hub: hub, node: node, token: token, intervalSeconds: interval, trust: trust)
        let layout = registry.layout
        let path = HubLink.fileName(in: layout.stateDirectory)
        let since = Date().timeIntervalSince1970
        try FileSystem.makeDirectories(layout.stateDirectory)
        let bytes = Array(try HubJSON.encoder.encode(link))
        try FileSystem.writeAtomically(path, bytes, mode: 0o600)
        // The engine runs as the service account on a real install: it must read the link.
        if layout.isRealInstall, let account = ServiceAccount.lookup() { try account.share(path, mode: 0o640) }
        print("Node \(node) is enrolled in hub \(hub) at \(hubURL); the engine reports every \(interval) s.")
        switch await EngineReload.reload(layout: layout) {
        case .reloaded(let how):
            let first = await HubLinker(firstReportSeconds: 10).firstReport(
                HubLinkPlan(linkFile: bytes, detail: ""),
                layout: layout,
                since: since
            )
            print("The running engine took the link (\(how)): \(first).")
        case .notRunning:
            print("The engine is not running: it reports from its start.")
        case .failed(let problem):
            throw CommandFailure(.failure, "the link is written, but the engine could not be reloaded: \(problem)")
        }
    }
}
