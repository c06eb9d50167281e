import Yams

/// Walks a composed YAML tree into a `NodeConfiguration`, collecting every structural problem.
///
/// Missing or malformed values become blanks in the model and an issue here; the semantic rules
/// then skip the key paths already reported, so each problem is told once.
struct AnswerFileReader {
    private(set) var issues: [ConfigurationIssue] = []
    private(set) var lines = KeyLines()

    mutating func readConfiguration(_ root: Yams.Node) -> NodeConfiguration? {
        lines[""] = root.mark?.line ?? 1
        guard
            let top = mapping(
                root,
                at: "",
                keys: ["version", "node", "network", "storage", "resources", "hub", "engine"]
            )
        else { return nil }

        let version = integer(top["version"], at: "version", required: true) ?? NodeConfiguration.currentVersion
        if top["version"] != nil, version != NodeConfiguration.currentVersion {
            report("version", "version \(version) is not supported", hint: "this release reads version 1")
        }

        let nodeKeys = mapping(top["node"], at: "node", keys: ["name"], required: true)
        let node = NodeConfiguration.Node(
            name: string(nodeKeys?["name"], at: "node.name", required: nodeKeys != nil) ?? ""
        )

        let networkKeys = mapping(top["network"], at: "network", keys: ["switch", "address"], required: true)
        let switchKeys = mapping(
            networkKeys?["switch"],
            at: "network.switch",
            keys: ["mode", "name", "adapter"],
            required: networkKeys != nil
        )
        let networkSwitch = NodeConfiguration.Switch(
            mode: choice(switchKeys?["mode"], at: "network.switch.mode", required: switchKeys != nil) ?? .existing,
            name: string(switchKeys?["name"], at: "network.switch.name", required: switchKeys != nil) ?? "",
            adapter: string(switchKeys?["adapter"], at: "network.switch.adapter")
        )
        let addressKeys = mapping(
            networkKeys?["address"],
            at: "network.address",
            keys: ["mode", "ip", "gateway", "dns"],
            required: networkKeys != nil
        )
        let address = NodeConfiguration.Address(
            mode: choice(addressKeys?["mode"], at: "network.address.mode", required: addressKeys != nil) ?? .dhcp,
            ip: string(addressKeys?["ip"], at: "network.address.ip"),
            gateway: string(addressKeys?["gateway"], at: "network.address.gateway"),
            dns: stringList(addressKeys?["dns"], at: "network.address.dns") ?? []
        )

        let storageKeys = mapping(top["storage"], at: "storage", keys: ["state", "drives"], required: true)
        let storage = NodeConfiguration.Storage(
            state: string(storageKeys?["state"], at: "storage.state") ?? NodeConfiguration.Storage.defaultState,
            drives: drives(storageKeys?["drives"], required: storageKeys != nil)
        )

        let resourceKeys = mapping(
            top["resources"],
            at: "resources",
            keys: ["memory_gb", "cores", "profile"],
            required: true
        )
        let resources = NodeConfiguration.Resources(
            memoryGB: integer(resourceKeys?["memory_gb"], at: "resources.memory_gb", required: resourceKeys != nil)
                ?? 0,
            cores: integer(resourceKeys?["cores"], at: "resources.cores", required: resourceKeys != nil) ?? 0,
            profile: string(resourceKeys?["profile"], at: "resources.profile")
        )

        let hub = hub(top["hub"])

        return NodeConfiguration(
            version: version,
            node: node,
            network: NodeConfiguration.Network(switch: networkSwitch, address: address),
            storage: storage,
            resources: resources,
            hub: hub,
            engine: engine(top["engine"])
        )
    }

    private mutating func hub(_ node: Yams.Node?) -> NodeConfiguration.Hub {
        let keys = mapping(
            node,
            at: "hub",
            keys: ["mode", "name", "url", "fingerprint", "ca_file", "enrolment_key_file", "admin_token_file"],
            required: true
        )
        let mode: NodeConfiguration.Hub.Mode = choice(keys?["mode"], at: "hub.mode", required: keys != nil) ?? .create
        return NodeConfiguration.Hub(
            mode: mode,
            name: string(keys?["name"], at: "hub.name", required: keys != nil && mode != .unlinked) ?? "",
            url: string(keys?["url"], at: "hub.url"),
            fingerprint: string(keys?["fingerprint"], at: "hub.fingerprint"),
            caFile: string(keys?["ca_file"], at: "hub.ca_file"),
            enrolmentKeyFile: string(keys?["enrolment_key_file"], at: "hub.enrolment_key_file"),
            adminTokenFile: string(keys?["admin_token_file"], at: "hub.admin_token_file")
        )
    }

    private mutating func engine(_ node: Yams.Node?) -> NodeConfiguration.Engine {
        let defaults = NodeConfiguration.Engine()
        guard
            let keys = mapping(
                node,
                at: "engine",
                keys: [
                    "listen", "admin", "upstream_proxy", "upstream_proxy_password_file", "extra_origins",
                    "block_size_kb", "max_connections",
                    "origin_connect_timeout_s", "origin_read_timeout_s", "idle_timeout_s", "fill_connections",
                    "stale_if_error_s", "origin_ca_file", "https",
                ]
            )
        else { return defaults }
        return NodeConfiguration.Engine(
            listen: string(keys["listen"], at: "engine.listen") ?? defaults.listen,
            admin: string(keys["admin"], at: "engine.admin") ?? defaults.admin,
            upstreamProxy: string(keys["upstream_proxy"], at: "engine.upstream_proxy"),
            upstreamProxyPasswordFile: string(
                keys["upstream_proxy_password_file"],
                at: "engine.upstream_proxy_password_file"
            ),
            extraOrigins: stringList(keys["extra_origins"], at: "engine.extra_origins") ?? [],
            blockSizeKB: integer(keys["block_size_kb"], at: "engine.block_size_kb") ?? defaults.blockSizeKB,
            maxConnections: integer(keys["max_connections"], at: "engine.max_connections")
                ?? defaults.maxConnections,
            originConnectTimeoutSeconds: integer(
                keys["origin_connect_timeout_s"],
                at: "engine.origin_connect_timeout_s"
            ) ?? defaults.originConnectTimeoutSeconds,
            originReadTimeoutSeconds: integer(keys["origin_read_timeout_s"], at: "engine.origin_read_timeout_s")
                ?? defaults.originReadTimeoutSeconds,
            idleTimeoutSeconds: integer(keys["idle_timeout_s"], at: "engine.idle_timeout_s")
                ?? defaults.idleTimeoutSeconds,
            fillConnections: integer(keys["fill_connections"], at: "engine.fill_connections")
                ?? defaults.fillConnections,
            staleIfErrorSeconds: integer(keys["stale_if_error_s"], at: "engine.stale_if_error_s")
                ?? defaults.staleIfErrorSeconds,
            originCAFile: string(keys["origin_ca_file"], at: "engine.origin_ca_file"),
            https: https(keys["https"])
        )
    }

    private mutating func https(_ node: Yams.Node?) -> NodeConfiguration.HTTPS? {
        guard
            let keys = mapping(
                node,
                at: "engine.https",
                keys: ["listen", "certificate_file", "key_file", "chain_file", "names", "handshake_timeout_s"]
            )
        else { return nil }
        return NodeConfiguration.HTTPS(
            listen: string(keys["listen"], at: "engine.https.listen") ?? NodeConfiguration.HTTPS.defaultListen,
            certificateFile: string(keys["certificate_file"], at: "engine.https.certificate_file", required: true)
                ?? "",
            keyFile: string(keys["key_file"], at: "engine.https.key_file", required: true) ?? "",
            chainFile: string(keys["chain_file"], at: "engine.https.chain_file"),
            names: stringList(keys["names"], at: "engine.https.names") ?? [],
            handshakeTimeoutSeconds: integer(keys["handshake_timeout_s"], at: "engine.https.handshake_timeout_s")
                ?? NodeConfiguration.HTTPS.defaultHandshakeTimeoutSeconds
        )
    }

    private mutating func drives(_ node: Yams.Node?, required: Bool) -> [NodeConfiguration.Drive] {
        guard let node, !isNull(node) else {
            if required {
                report("storage.drives", "missing", hint: "one or more drives, each with path and size_gb")
            }
            return []
        }
        guard case .sequence(let sequence) = node else {
            report("storage.drives", node, "expected a list of drives, found \(kind(node))")
            return []
        }
        if sequence.isEmpty {
            report("storage.drives", node, "no cache drive given", hint: "at least one drive with path and size_gb")
        }
        return sequence.enumerated().map { index, item in
            let path = "storage.drives[\(index)]"
            lines[path] = item.mark?.line
            let keys = mapping(item, at: path, keys: ["path", "size_gb"])
            return NodeConfiguration.Drive(
                path: string(keys?["path"], at: "\(path).path", required: keys != nil) ?? "",
                sizeGB: number(keys?["size_gb"], at: "\(path).size_gb", required: keys != nil) ?? 0
            )
        }
    }

    // MARK: Values

    private mutating func mapping(
        _ node: Yams.Node?,
        at path: String,
        keys allowed: [String],
        required: Bool = false
    ) -> [String: Yams.Node]? {
        guard let node, !isNull(node) else {
            if required { report(path, "missing", hint: "a section with \(allowed.joined(separator: ", "))") }
            return nil
        }
        guard case .mapping(let mapping) = node else {
            report(path, node, "expected a mapping of keys, found \(kind(node))")
            return nil
        }
        var result: [String: Yams.Node] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report(path, key, "keys must be plain names, found \(kind(key))")
                continue
            }
            let child = path.isEmpty ? scalar.string : "\(path).\(scalar.string)"
            lines[child] = key.mark?.line
            guard allowed.contains(scalar.string) else {
                report(child, key, "unknown key", hint: Self.suggestion(for: scalar.string, among: allowed))
                continue
            }
            guard result[scalar.string] == nil else {
                report(child, key, "duplicate key", hint: "each key once")
                continue
            }
            result[scalar.string] = value
        }
        return result
    }

    private mutating func string(_ node: Yams.Node?, at path: String, required: Bool = false) -> String? {
        guard let node, !isNull(node) else {
            if required { report(path, "missing", hint: "a value is required") }
            return nil
        }
        guard case .scalar(let scalar) = node else {
            report(path, node, "expected a single value, found \(kind(node))")
            return nil
        }
        return scalar.string
    }

    private mutating func integer(_ node: Yams.Node?, at path: String, required: Bool = false) -> Int? {
        guard let text = string(node, at: path, required: required), let node else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            let value = Int(text)
        else {
            report(path, node, "expected a whole number, found \(describe(text))")
            return nil
        }
        return value
    }

    private mutating func number(_ node: Yams.Node?, at path: String, required: Bool = false) -> Double? {
        guard let text = string(node, at: path, required: required), let node else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            let value = Double(text), value.isFinite
        else {
            report(path, node, "expected a number, found \(describe(text))")
            return nil
        }
        return value
    }

    private mutating func choice<Choice: RawRepresentable & CaseIterable>(
        _ node: Yams.Node?,
        at path: String,
        required: Bool
    ) -> Choice? where Choice.RawValue == String {
        guard let text = string(node, at: path, required: required), let node else { return nil }
        guard let value = Choice(rawValue: text) else {
            let options = Choice.allCases.map(\.rawValue).joined(separator: " or ")
            report(path, node, "\(describe(text)) is not a choice here", hint: options)
            return nil
        }
        return value
    }

    private mutating func stringList(_ node: Yams.Node?, at path: String) -> [String]? {
        guard let node, !isNull(node) else { return nil }
        guard case .sequence(let sequence) = node else {
            if case .scalar(let scalar) = node {
                report(path, node, "expected a list, found \(describe(scalar.string))", hint: "[\(scalar.string)]")
            } else {
                report(path, node, "expected a list of values, found \(kind(node))")
            }
            return nil
        }
        return sequence.enumerated().compactMap { index, item in
            let itemPath = "\(path)[\(index)]"
            lines[itemPath] = item.mark?.line
            return string(item, at: itemPath, required: true)
        }
    }

    // MARK: Reporting

    private mutating func report(_ path: String, _ node: Yams.Node, _ message: String, hint: String? = nil) {
        lines[path] = lines[path] ?? node.mark?.line
        issues.append(ConfigurationIssue(path, line: node.mark?.line ?? lines.line(for: path), message, hint: hint))
    }

    private mutating func report(_ path: String, _ message: String, hint: String? = nil) {
        issues.append(ConfigurationIssue(path, line: lines.line(for: path), message, hint: hint))
    }

    private func isNull(_ node: Yams.Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func kind(_ node: Yams.Node) -> String {
        switch node {
        case .scalar(let scalar): describe(scalar.string)
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    private func describe(_ text: String) -> String {
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        return "'\(shown)'"
    }

    /// "did you mean 'gateway'?" for a near miss, else the keys allowed here.
    static func suggestion(for key: String, among allowed: [String]) -> String {
        let lowered = key.lowercased()
        if let close = allowed.min(by: { distance(lowered, $0) < distance(lowered, $1) }),
            distance(lowered, close) <= max(2, close.count / 3)
        {
            return "did you mean '\(close)'?"
        }
        return "expected one of: \(allowed.joined(separator: ", "))"
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                )
            }
            previous = current
        }
        return previous[b.count]
    }
}
