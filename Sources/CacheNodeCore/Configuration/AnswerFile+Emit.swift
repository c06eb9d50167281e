extension AnswerFile {
    /// Writes the configuration as an answer file, every key in schema order, with a comment naming
    /// the wizard step each section answers. `load(emit(c))` gives `c` back.
    package static func emit(_ configuration: NodeConfiguration, header: String? = nil) -> String {
        let c = configuration
        var out: [String] = []
        if let header {
            out += header.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" }
        }
        out.append("version: \(c.version)")
        out.append("# Step 2: cache node name (letters, digits, hyphens; fixed after install)")
        out.append("node:")
        out.append("  name: \(scalar(c.node.name))")
        out.append("network:")
        out.append("  # Step 3: network switch")
        out.append("  switch:")
        out.append("    mode: \(c.network.switch.mode.rawValue)")
        out.append("    name: \(scalar(c.network.switch.name))")
        if let adapter = c.network.switch.adapter { out.append("    adapter: \(scalar(adapter))") }
        out.append("  # Step 4: address")
        out.append("  address:")
        out.append("    mode: \(c.network.address.mode.rawValue)")
        if let ip = c.network.address.ip { out.append("    ip: \(scalar(ip))") }
        if let gateway = c.network.address.gateway { out.append("    gateway: \(scalar(gateway))") }
        if !c.network.address.dns.isEmpty { out.append("    dns: \(list(c.network.address.dns))") }
        out.append("# Step 5: storage")
        out.append("storage:")
        out.append("  state: \(scalar(c.storage.state))")
        out.append("  drives:")
        for drive in c.storage.drives {
            out.append("    - path: \(scalar(drive.path))")
            out.append("      size_gb: \(number(drive.sizeGB))")
        }
        out.append("# Step 6: resources for the node")
        out.append("resources:")
        out.append("  memory_gb: \(c.resources.memoryGB)")
        out.append("  cores: \(c.resources.cores)")
        if let profile = c.resources.profile { out.append("  profile: \(scalar(profile))") }
        out.append("# Step 7: hub")
        out.append("hub:")
        out.append("  mode: \(c.hub.mode.rawValue)")
        if c.hub.mode != .unlinked || !c.hub.name.isEmpty { out.append("  name: \(scalar(c.hub.name))") }
        let hubKeys: [(String, String?)] = [
            ("url", c.hub.url), ("fingerprint", c.hub.fingerprint), ("ca_file", c.hub.caFile),
            ("enrolment_key_file", c.hub.enrolmentKeyFile), ("admin_token_file", c.hub.adminTokenFile),
        ]
        for case let (key, value?) in hubKeys { out.append("  \(key): \(scalar(value))") }
        out.append("# The cache engine")
        out.append("engine:")
        out.append("  listen: \(scalar(c.engine.listen))")
        out.append("  admin: \(scalar(c.engine.admin))")
        out.append("  upstream_proxy: \(c.engine.upstreamProxy.map(scalar) ?? "null")")
        if let file = c.engine.upstreamProxyPasswordFile {
            out.append("  upstream_proxy_password_file: \(scalar(file))")
        }
        out.append("  extra_origins: \(list(c.engine.extraOrigins))")
        if let file = c.engine.originCAFile { out.append("  origin_ca_file: \(scalar(file))") }
        let defaults = NodeConfiguration.Engine()
        let tuning: [(String, Int, Int)] = [
            ("block_size_kb", c.engine.blockSizeKB, defaults.blockSizeKB),
            ("max_connections", c.engine.maxConnections, defaults.maxConnections),
            ("origin_connect_timeout_s", c.engine.originConnectTimeoutSeconds, defaults.originConnectTimeoutSeconds),
            ("origin_read_timeout_s", c.engine.originReadTimeoutSeconds, defaults.originReadTimeoutSeconds),
            ("idle_timeout_s", c.engine.idleTimeoutSeconds, defaults.idleTimeoutSeconds),
            ("fill_connections", c.engine.fillConnections, defaults.fillConnections),
            ("stale_if_error_s", c.engine.staleIfErrorSeconds, defaults.staleIfErrorSeconds),
        ]
        for (key, value, defaultValue) in tuning where value != defaultValue {
            out.append("  \(key): \(value)")
        }
        if let https = c.engine.https {
            out.append("  https:")
            out.append("    listen: \(scalar(https.listen))")
            out.append("    certificate_file: \(scalar(https.certificateFile))")
            out.append("    key_file: \(scalar(https.keyFile))")
            if let chain = https.chainFile { out.append("    chain_file: \(scalar(chain))") }
            if !https.names.isEmpty { out.append("    names: \(list(https.names))") }
            if https.handshakeTimeoutSeconds != NodeConfiguration.HTTPS.defaultHandshakeTimeoutSeconds {
                out.append("    handshake_timeout_s: \(https.handshakeTimeoutSeconds)")
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    private static func list(_ values: [String]) -> String {
        "[" + values.map(scalar).joined(separator: ", ") + "]"
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// A YAML scalar that reads back as the same string: plain where safe, double-quoted otherwise.
    package static func scalar(_ text: String) -> String {
        let plainSafe = text.unicodeScalars.allSatisfy { scalar in
            (scalar.value >= 0x30 && scalar.value <= 0x39) || (scalar.value >= 0x41 && scalar.value <= 0x5A)
                || (scalar.value >= 0x61 && scalar.value <= 0x7A) || "-_./".unicodeScalars.contains(scalar)
        }
        let reserved = ["", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"]
        let looksNumeric = Double(text) != nil || Int(text) != nil || text.hasPrefix("0") && text.count > 1
        let colonSafe =
            text.contains(":") && !text.contains(": ") && !text.hasSuffix(":") && !text.hasPrefix(":")
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && $0.value > 0x20 && !"#,[]{}&*!|>'\"%@`".unicodeScalars.contains($0)
            }
        if (plainSafe || colonSafe) && !reserved.contains(text.lowercased()) && !looksNumeric
            && !text.hasPrefix("-") && !text.hasPrefix(".")
        {
            return text
        }
        var escaped = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                escaped += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
