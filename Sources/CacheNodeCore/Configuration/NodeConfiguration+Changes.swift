extension NodeConfiguration {
    /// Every setting as `key.path = value`, in schema order, for showing what a reconfiguration changes.
    package func flattened() -> [(key: String, value: String)] {
        var rows: [(String, String)] = [
            ("version", "\(version)"),
            ("node.name", node.name),
            ("network.switch.mode", network.switch.mode.rawValue),
            ("network.switch.name", network.switch.name),
            ("network.switch.adapter", network.switch.adapter ?? "-"),
            ("network.address.mode", network.address.mode.rawValue),
            ("network.address.ip", network.address.ip ?? "-"),
            ("network.address.gateway", network.address.gateway ?? "-"),
            ("network.address.dns", network.address.dns.joined(separator: ", ")),
            ("storage.state", storage.state),
        ]
        for (index, drive) in storage.drives.enumerated() {
            rows.append(("storage.drives[\(index)].path", drive.path))
            rows.append(("storage.drives[\(index)].size_gb", Self.number(drive.sizeGB)))
        }
        rows += [
            ("resources.memory_gb", "\(resources.memoryGB)"),
            ("resources.cores", "\(resources.cores)"),
            ("resources.profile", resources.profile ?? "-"),
            ("hub.mode", hub.mode.rawValue),
            ("hub.name", hub.name.isEmpty ? "-" : hub.name),
            ("hub.url", hub.url ?? "-"),
            ("hub.fingerprint", hub.fingerprint ?? "-"),
            ("hub.ca_file", hub.caFile ?? "-"),
            ("hub.enrolment_key_file", hub.enrolmentKeyFile ?? "-"),
            ("hub.admin_token_file", hub.adminTokenFile ?? "-"),
            ("engine.listen", engine.listen),
            ("engine.admin", engine.admin),
            ("engine.upstream_proxy", engine.upstreamProxy ?? "-"),
            ("engine.upstream_proxy_password_file", engine.upstreamProxyPasswordFile ?? "-"),
            ("engine.extra_origins", engine.extraOrigins.joined(separator: ", ")),
            ("engine.block_size_kb", "\(engine.blockSizeKB)"),
            ("engine.max_connections", "\(engine.maxConnections)"),
            ("engine.origin_connect_timeout_s", "\(engine.originConnectTimeoutSeconds)"),
            ("engine.origin_read_timeout_s", "\(engine.originReadTimeoutSeconds)"),
            ("engine.idle_timeout_s", "\(engine.idleTimeoutSeconds)"),
            ("engine.fill_connections", "\(engine.fillConnections)"),
            ("engine.stale_if_error_s", "\(engine.staleIfErrorSeconds)"),
            ("engine.origin_ca_file", engine.originCAFile ?? "-"),
            ("engine.https.listen", engine.https?.listen ?? "-"),
            ("engine.https.certificate_file", engine.https?.certificateFile ?? "-"),
            ("engine.https.key_file", engine.https?.keyFile ?? "-"),
            ("engine.https.chain_file", engine.https?.chainFile ?? "-"),
            ("engine.https.names", engine.https.map { $0.names.joined(separator: ", ") } ?? "-"),
            ("engine.https.handshake_timeout_s", engine.https.map { "\($0.handshakeTimeoutSeconds)" } ?? "-"),
        ]
        return rows.map { (key: $0.0, value: $0.1) }
    }

    /// The settings that differ from `old`, with both values; `-` stands for absent.
    package func changes(from old: NodeConfiguration) -> [SettingChange] {
        let before = Dictionary(old.flattened().map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let after = flattened()
        var changes = after.compactMap { row -> SettingChange? in
            let previous = before[row.key] ?? "-"
            guard previous != row.value else { return nil }
            guard row.key == "engine.upstream_proxy" else {
                return SettingChange(key: row.key, old: previous, new: row.value)
            }
            // Shown on screens and in logs: never the proxy password itself.
            let old = ProxyURL.redacting(previous)
            let new = ProxyURL.redacting(row.value)
            return SettingChange(key: row.key, old: old, new: old == new ? new + " (new password)" : new)
        }
        let keys = Set(after.map(\.key))
        for row in old.flattened() where !keys.contains(row.key) {
            changes.append(SettingChange(key: row.key, old: row.value, new: "-"))
        }
        return changes
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// One setting a reconfiguration changes.
package struct SettingChange: Equatable, Sendable {
    package var key: String
    package var old: String
    package var new: String

    package init(key: String, old: String, new: String) {
        self.key = key
        self.old = old
        self.new = new
    }
}

extension NodeConfiguration {
    /// The same configuration with every path passed through `transform` (state and drives).
    package func mappingPaths(_ transform: (String) -> String) -> NodeConfiguration {
        var copy = self
        copy.storage.state = transform(storage.state)
        copy.storage.drives = storage.drives.map { .init(path: transform($0.path), sizeGB: $0.sizeGB) }
        copy.engine.upstreamProxyPasswordFile = engine.upstreamProxyPasswordFile.map(transform)
        copy.engine.originCAFile = engine.originCAFile.map(transform)
        if let https = engine.https {
            copy.engine.https?.certificateFile = transform(https.certificateFile)
            copy.engine.https?.keyFile = transform(https.keyFile)
            copy.engine.https?.chainFile = https.chainFile.map(transform)
        }
        return copy
    }

    /// What `DOCacheHost` should say for this node: its static address, or the given host name.
    package func cacheHost(hostName: String) -> String {
        let listen = ListenAddress(engine.listen)
        var host = hostName
        if let address = listen?.address, address.scope != .unspecified {
            host = listen!.host
        } else if network.address.mode == .static, let ip = network.address.ip.flatMap(IPInterface.init) {
            host = ip.address.description
        }
        if host.contains(":") { host = "[\(host)]" }
        guard let port = listen?.port, port != 80 else { return host }
        return "\(host):\(port)"
    }
}
