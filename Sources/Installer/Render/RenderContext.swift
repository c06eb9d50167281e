import CacheNodeCore

/// The values the templates see, derived from the configuration and where it is installed.
struct RenderContext {
    var configuration: NodeConfiguration
    var layout: InstallLayout
    var binary: String
    var cacheHost: String
    var policy: ClientPolicy
    var version: String

    /// The installed configuration with paths as they are on disk, which `serve --config` reads.
    var installedConfiguration: NodeConfiguration {
        configuration.mappingPaths(layout.onDisk)
    }

    var values: [String: Any] {
        let c = configuration
        let installed = installedConfiguration
        let listen = ListenAddress(c.engine.listen)
        let admin = ListenAddress(c.engine.admin)
        let address = c.network.address
        var values: [String: Any] = [
            "node": c.node.name,
            "hub": c.hub.name,
            "binary": binary,
            "config": layout.configuration,
            "firewall": layout.firewall,
            "state": layout.stateDirectory,
            "memory_gb": c.resources.memoryGB,
            "cores": c.resources.cores,
            "memory_max": "\(c.resources.memoryGB)G",
            "cpu_quota": "\(c.resources.cores * 100)%",
            "allowed_cpus": c.resources.cores == 1 ? "0" : "0-\(c.resources.cores - 1)",
            "switch": c.network.switch.name,
            "listen_port": listen?.port ?? 80,
            "admin_port": admin?.port ?? 5000,
            "cache_host": cacheHost,
            "fallback_foreground": policy.fallbackForegroundSeconds,
            "fallback_background": policy.fallbackBackgroundSeconds,
            "fallback_foreground_hex": Self.dword(policy.fallbackForegroundSeconds),
            "fallback_background_hex": Self.dword(policy.fallbackBackgroundSeconds),
            "answers": AnswerFile.emit(installed),
            "node_json": JSONText.string(c.node.name),
            "hub_json": JSONText.string(c.hub.name),
            "version_json": JSONText.string(version),
            "listen_json": JSONText.string(c.engine.listen),
            "admin_json": JSONText.string(c.engine.admin),
            "cache_host_json": JSONText.string(cacheHost),
            "drives": installed.storage.drives.enumerated().map { index, drive -> [String: Any] in
                [
                    "first": index == 0, "path": drive.path, "path_json": JSONText.string(drive.path),
                    "size_gb": JSONText.number(drive.sizeGB),
                ]
            },
        ]
        // Windows clients reach a cache host on port 80 only: the policy files say so when the node listens elsewhere.
        if let port = listen?.port, port != 80 { values["listen_port_other"] = "\(port)" }
        if let https = c.engine.https { values["https_port"] = ListenAddress(https.listen)?.port ?? 443 }
        if let adapter = c.network.switch.adapter, c.network.switch.mode == .create { values["adapter"] = adapter }
        if let file = installed.engine.upstreamProxyPasswordFile { values["proxy_password_file"] = file }
        switch address.mode {
        case .dhcp:
            values["dhcp"] = true
        case .static:
            var fixed: [String: Any] = [
                "ip": address.ip ?? "", "dns": address.dns, "dns_list": address.dns.joined(separator: ", "),
            ]
            // An isolated segment has no router: no gateway line, no default route.
            if let gateway = address.gateway { fixed["gateway"] = gateway }
            values["static"] = fixed
        }
        return values
    }

    private static func dword(_ value: Int) -> String {
        let hex = String(UInt32(clamping: value), radix: 16)
        return String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }
}

/// Client policy values from `Resources/client-policy.yaml`.
package struct ClientPolicy: Equatable, Sendable {
    package var fallbackForegroundSeconds: Int
    package var fallbackBackgroundSeconds: Int

    package init(fallbackForegroundSeconds: Int, fallbackBackgroundSeconds: Int) {
        self.fallbackForegroundSeconds = fallbackForegroundSeconds
        self.fallbackBackgroundSeconds = fallbackBackgroundSeconds
    }

    /// Reads `key: value` lines; both keys are required and must be 0 to 2,592,000 seconds.
    package init(text: String) throws(InstallError) {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
            if parts.count == 2, let value = Int(parts[1]) { values[parts[0]] = value }
        }
        guard let foreground = values["fallback_foreground_s"], let background = values["fallback_background_s"],
            (0...2_592_000).contains(foreground), (0...2_592_000).contains(background)
        else {
            throw .resource(
                problem: "client-policy.yaml needs fallback_foreground_s and fallback_background_s (0 to 2592000)"
            )
        }
        self.init(fallbackForegroundSeconds: foreground, fallbackBackgroundSeconds: background)
    }
}

/// JSON literals for templates that write JSON.
enum JSONText {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
