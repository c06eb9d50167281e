import CacheNodeCore
import Foundation
import Installer
import Management

#if canImport(Glibc)
    import Glibc
#endif

/// The secret that joins a node to a hub service, from where setup may take it: the answers' files (each of its own,
/// mode 0600), `--hub-token`, or the environment. It is never written anywhere.
enum HubSecret {
    static let keyVariable = "CACHENODE_HUB_KEY"
    static let tokenVariable = "CACHENODE_HUB_TOKEN"

    /// The credential for `hub`: a file the answers name, else `--hub-token`, else the environment; `nil` when none.
    static func credential(
        for hub: NodeConfiguration.Hub,
        token flag: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(CommandFailure) -> HubCredential? {
        if let file = hub.enrolmentKeyFile { return .enrolmentKey(try read(file, key: "hub.enrolment_key_file")) }
        if let file = hub.adminTokenFile { return .adminToken(try read(file, key: "hub.admin_token_file")) }
        if let flag, !flag.isEmpty { return .adminToken(flag) }
        if let key = environment[keyVariable], !key.isEmpty {
            return .enrolmentKey(key.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let token = environment[tokenVariable], !token.isEmpty {
            return .adminToken(token.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return nil
    }

    /// The secret in `path`, a file of its own that only its owner may read.
    static func read(_ path: String, key: String) throws(CommandFailure) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw CommandFailure(.invalid, "\(key): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CommandFailure(
                .invalid,
                "\(key): \(path) is mode \(String(info.st_mode & 0o777, radix: 8)), readable by others; a secret belongs in a "
                    + "file of its own, mode 0600 (chmod 600 \(path))"
            )
        }
        let text: String
        do { text = try TextFile.read(path, limit: 4096) } catch { throw CommandFailure(.invalid, "\(key): \(error)") }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, !secret.contains(where: \.isWhitespace) else {
            throw CommandFailure(.invalid, "\(key): \(path) does not hold a key or token (one line, no spaces)")
        }
        return secret
    }

    /// Folds `--hub-url`, `--hub-fingerprint` and `--hub-ca` into answers that name no hub service themselves.
    static func fold(url: String?, fingerprint: String?, caFile: String?, into hub: inout NodeConfiguration.Hub)
        throws(CommandFailure)
    {
        guard let url, hub.mode != .unlinked else { return }
        if let named = hub.url, named != url {
            throw CommandFailure(
                .invalid,
                "--hub-url \(url) differs from hub.url \(named) of the answers; give one of them"
            )
        }
        hub.url = url
        if hub.fingerprint == nil && hub.caFile == nil {
            hub.fingerprint = fingerprint
            hub.caFile = caFile.map(FileSystem.absolute)
        }
    }
}

/// The apply step "link to the hub": the node is registered and enrolled in the hub the answers name, on this machine
/// (the registry, written to directly) or on a hub service elsewhere, and the engine reports there.
struct HubLinker: HubLinking {
    var credential: HubCredential?
    var intervalSeconds = 60
    /// How long `firstReport` waits for the engine's first report.
    var firstReportSeconds = 15.0

    /// Whether the link on disk is already what `configuration` asks for.
    static func isUpToDate(_ configuration: NodeConfiguration, layout: InstallLayout) -> Bool {
        let link = try? HubLink.read(state: layout.stateDirectory)
        let hub = configuration.hub
        guard hub.mode != .unlinked else { return link == nil }
        guard let link, link.hub.lowercased() == hub.name.lowercased(),
            link.node.lowercased() == configuration.node.name.lowercased()
        else { return false }
        return link.url == hub.url && (hub.url != nil || link.registry == registryPath(layout))
    }

    static func registryPath(_ layout: InstallLayout) -> String { layout.stateDirectory + "/registry.sqlite" }

    func prepare(_ configuration: NodeConfiguration, layout: InstallLayout) async throws(InstallError) -> HubLinkPlan {
        let hub = configuration.hub
        let node = configuration.node.name
        let existing = try? HubLink.read(state: layout.stateDirectory)
        if Self.isUpToDate(configuration, layout: layout) {
            let detail =
                hub.mode == .unlinked
                ? "this node joins no hub"
                : "node \(node) stays linked to hub \(hub.name) at \(existing?.destination ?? "-")"
            return HubLinkPlan(linkFile: nil, detail: detail, unchanged: true)
        }
        // The hub it leaves: a record on this machine is removed once the engine took the new link; a hub service's
        // stays (offline) for its operator to delete.
        var leaving = ""
        var finish: @Sendable () -> String? = { nil }
        if let existing {
            if let path = existing.registry {
                finish = {
                    do { try Registry(path: path).deleteNode(existing.node, hub: existing.hub) } catch RegistryError
                        .noSuchNode
                    {
                        return nil
                    } catch {
                        return
                            "node \(existing.node) could not be removed from hub \(existing.hub) on this machine: \(error)"
                    }
                    return "node \(existing.node) left hub \(existing.hub) on this machine"
                }
            } else {
                leaving =
                    " (its record in hub \(existing.hub) at \(existing.destination) stays, offline, until deleted there)"
            }
        }
        guard hub.mode != .unlinked else {
            return HubLinkPlan(
                linkFile: nil,
                detail: "unlinked from hub \(existing?.hub ?? "-")" + leaving,
                finish: finish
            )
        }
        let link: HubLink
        let detail: String
        var undo: @Sendable () async -> [String] = { [] }
        var registry: String?
        if hub.url == nil {
            (link, undo) = try local(configuration, layout: layout)
            registry = link.registry
            detail = "node \(node) registered in hub \(hub.name) on this machine"
        } else {
            (link, undo) = try await service(configuration)
            detail = "node \(node) enrolled in hub \(hub.name) at \(link.destination)"
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try HubJSON.encoder.encode(link))
        } catch {
            let problems = await undo()
            throw .command(
                step: ApplyStep.hub.rawValue,
                problem: "cannot encode the hub link: \(error)" + problems.map { "; \($0)" }.joined()
            )
        }
        return HubLinkPlan(linkFile: bytes, detail: detail + leaving, registry: registry, undo: undo, finish: finish)
    }

    /// Registers the node in the registry on this machine (creating the hub when asked) and enrols it there.
    private func local(_ configuration: NodeConfiguration, layout: InstallLayout) throws(InstallError) -> (
        HubLink, @Sendable () -> [String]
    ) {
        let hub = configuration.hub.name
        let node = configuration.node.name
        let path = Self.registryPath(layout)
        func failure(_ error: any Error) -> InstallError { .command(step: ApplyStep.hub.rawValue, problem: "\(error)") }
        let registry: Registry
        do {
            try FileSystem.makeDirectories(layout.stateDirectory)
            registry = try Registry(path: path)
        } catch {
            throw failure(error)
        }
        if configuration.hub.mode == .create {
            do { try registry.createHub(hub) } catch RegistryError.hubExists
            { /* made by an earlier run: joined as it is */  } catch {
                throw failure(error)
            }
        }
        let key: String
        do {
            key = try registry.createNode(node, hub: hub)
        } catch RegistryError.nodeExists {
            throw .command(
                step: ApplyStep.hub.rawValue,
                problem:
                    "hub \(hub) already has a node named \(node); if that is this node's old record, remove it with "
                    + "`cachenode node delete \(node) --hub \(hub)` and run setup again"
            )
        } catch {
            throw failure(error)
        }
        let undo: @Sendable () -> [String] = {
            do { try Registry(path: path).deleteNode(node, hub: hub) } catch {
                return ["deleting node \(node) from hub \(hub): \(error)"]
            }
            return []
        }
        do {
            let token = try registry.enrol(node: node, hub: hub, key: key)
            return (HubLink(registry: path, hub: hub, node: node, token: token, intervalSeconds: intervalSeconds), undo)
        } catch {
            _ = undo()
            throw failure(error)
        }
    }

    /// Joins a hub service: with its admin token the node is created there (and the hub, when asked) and enrolled;
    /// with a one-time key it is enrolled. The certificate is checked before any secret is sent.
    private func service(_ configuration: NodeConfiguration) async throws(InstallError) -> (
        HubLink, @Sendable () async -> [String]
    ) {
        let hub = configuration.hub
        let node = configuration.node.name
        let url = hub.url ?? ""
        func failure(_ problem: String) -> InstallError { .command(step: ApplyStep.hub.rawValue, problem: problem) }
        let trust: HubTrust
        do {
            trust = try HubTrust.from(fingerprint: hub.fingerprint, caFile: hub.caFile)
        } catch {
            throw failure("\(error)")
        }
        guard let credential else {
            throw failure(
                "hub \(hub.name) at \(url) needs a one-time key (hub.enrolment_key_file or \(HubSecret.keyVariable)) or its "
                    + "admin token (hub.admin_token_file or \(HubSecret.tokenVariable))"
            )
        }
        let interval = intervalSeconds
        let outcome: Result<(String, Bool), HubClient.Failure>
        do throws(HubClient.Failure) {
            switch credential {
            case .enrolmentKey(let key):
                let token = try await HubClient(baseURL: url, trust: trust).enrol(node: node, hub: hub.name, key: key)
                outcome = .success((token, false))
            case .adminToken(let token):
                let admin = HubClient(baseURL: url, token: token, trust: trust)
                if hub.mode == .create {
                    do throws(HubClient.Failure) {
                        _ = try await admin.createHub(hub.name)
                    } catch .refused(status: 409, _) {
                        // It exists: the node joins it.
                    }
                }
                let key = try await admin.createNode(node, hub: hub.name)
                do throws(HubClient.Failure) {
                    outcome = .success((try await admin.enrol(node: node, hub: hub.name, key: key), true))
                } catch {
                    try? await admin.deleteNode(node, hub: hub.name)
                    throw error
                }
            }
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .failure(let error):
            throw failure("hub \(hub.name) at \(url): \(error)")
        case .success(let (token, created)):
            let link = HubLink(
                url: url,
                hub: hub.name,
                node: node,
                token: token,
                intervalSeconds: interval,
                trust: trust
            )
            guard created, case .adminToken(let admin) = credential else { return (link, { [] }) }
            let undo: @Sendable () async -> [String] = {
                do {
                    try await HubClient(baseURL: url, token: admin, trust: trust).deleteNode(node, hub: hub.name)
                    return []
                } catch {
                    return ["deleting node \(node) from hub \(hub.name) at \(url): \(error)"]
                }
            }
            return (link, undo)
        }
    }

    func firstReport(_ plan: HubLinkPlan, layout: InstallLayout, since: Double) async -> String {
        guard let bytes = plan.linkFile, let link = try? HubJSON.decoder.decode(HubLink.self, from: Data(bytes)) else {
            return "no report: the node joins no hub"
        }
        let deadline = Date().addingTimeInterval(firstReportSeconds)
        while Date() < deadline {
            if let status = HubLinkStatus.read(state: layout.stateDirectory), status.belongs(to: link),
                status.lastAttempt.timeIntervalSince1970 >= since - 1
            {
                let time = Self.clock(status.lastAttempt)
                if let error = status.error {
                    return
                        "the first report (\(time)) failed: \(error); the engine tries again every \(link.intervalSeconds) s"
                }
                return "first report accepted at \(time), then every \(link.intervalSeconds) s"
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return "no report within \(Int(firstReportSeconds)) s; `cachenode status` shows the reporter"
    }

    /// `14:03:07`, local time.
    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}
