extension NodeConfiguration {
    /// The semantic rules: every problem with its key path; empty when the configuration can be installed.
    package func validate(sizing: SizingTable) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        if version != NodeConfiguration.currentVersion {
            issues.append(.init("version", "version \(version) is not supported", hint: "this release reads version 1"))
        }
        if let problem = NameRules.nodeNameProblem(node.name) {
            issues.append(.init("node.name", problem, hint: NameRules.nodeNameRule))
        }
        issues += validateNetwork()
        issues += validateStorage(sizing: sizing)
        issues += validateResources(sizing: sizing)
        issues += validateHub()
        issues += validateEngine()
        return issues
    }

    private func validateNetwork() -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        let networkSwitch = network.switch
        if let problem = NameRules.interfaceNameProblem(networkSwitch.name) {
            issues.append(.init("network.switch.name", problem, hint: NameRules.interfaceNameRule))
        }
        switch networkSwitch.mode {
        case .create:
            if let adapter = networkSwitch.adapter {
                if let problem = NameRules.interfaceNameProblem(adapter) {
                    issues.append(.init("network.switch.adapter", problem, hint: NameRules.interfaceNameRule))
                } else if adapter == networkSwitch.name {
                    issues.append(
                        .init(
                            "network.switch.adapter",
                            "the adapter and the new switch have the same name '\(adapter)'",
                            hint: "name the switch differently, for example br0"
                        )
                    )
                }
            } else {
                issues.append(
                    .init("network.switch.adapter", "missing", hint: "mode: create needs the adapter it takes over")
                )
            }
        case .existing:
            if networkSwitch.adapter != nil {
                issues.append(
                    .init(
                        "network.switch.adapter",
                        "an adapter is only taken over when a switch is created",
                        hint: "remove it, or use mode: create"
                    )
                )
            }
        }

        let address = network.address
        for (index, server) in address.dns.enumerated() where IPAddress(server) == nil {
            issues.append(
                .init(
                    "network.address.dns[\(index)]",
                    "'\(server)' is not an IP address",
                    hint: "an IPv4 or IPv6 address such as 10.0.0.2"
                )
            )
        }
        switch address.mode {
        case .dhcp:
            if address.ip != nil {
                issues.append(
                    .init("network.address.ip", "not used with mode: dhcp", hint: "remove it, or use mode: static")
                )
            }
            if address.gateway != nil {
                issues.append(
                    .init(
                        "network.address.gateway",
                        "not used with mode: dhcp",
                        hint: "remove it, or use mode: static"
                    )
                )
            }
        case .static:
            issues += validateStaticAddress(address)
        }
        return issues
    }

    private func validateStaticAddress(_ address: Address) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        var interface: IPInterface?
        if let ip = address.ip {
            interface = IPInterface(ip)
            if let interface {
                let usable = interface.address.isIPv4 ? interface.prefix <= 30 : interface.prefix <= 126
                if interface.address.isIPv4 && interface.prefix < 8 {
                    issues.append(
                        .init("network.address.ip", "prefix /\(interface.prefix) is too wide", hint: "/8 to /30")
                    )
                } else if !usable {
                    issues.append(
                        .init(
                            "network.address.ip",
                            "prefix /\(interface.prefix) leaves no room for a gateway",
                            hint: interface.address.isIPv4 ? "/8 to /30" : "/126 or wider"
                        )
                    )
                } else if interface.address == interface.networkAddress {
                    issues.append(
                        .init(
                            "network.address.ip",
                            "\(interface.address) is the network address of \(subnet(interface))"
                        )
                    )
                } else if interface.address == interface.broadcastAddress {
                    issues.append(
                        .init(
                            "network.address.ip",
                            "\(interface.address) is the broadcast address of \(subnet(interface))"
                        )
                    )
                } else if [.unspecified, .loopback, .multicast].contains(interface.address.scope) {
                    issues.append(
                        .init(
                            "network.address.ip",
                            "\(interface.address) is a \(interface.address.scope.rawValue) address"
                        )
                    )
                }
            } else if IPAddress(ip) != nil {
                issues.append(.init("network.address.ip", "'\(ip)' has no prefix length", hint: "as \(ip)/24"))
            } else {
                issues.append(
                    .init("network.address.ip", "'\(ip)' is not an address with prefix", hint: "as 10.0.0.50/24")
                )
            }
        } else {
            issues.append(
                .init("network.address.ip", "missing", hint: "mode: static needs address/prefix, as 10.0.0.50/24")
            )
        }

        // A gateway is judged only against an address that is itself usable.
        if issues.contains(where: { $0.keyPath == "network.address.ip" }) { interface = nil }
        if let gateway = address.gateway {
            if let gatewayAddress = IPAddress(gateway) {
                if let interface {
                    if gatewayAddress.isIPv4 != interface.address.isIPv4 {
                        issues.append(
                            .init(
                                "network.address.gateway",
                                "\(gateway) is not of the same IP version as \(interface.address)"
                            )
                        )
                    } else if gatewayAddress == interface.address {
                        issues.append(.init("network.address.gateway", "\(gateway) is the node's own address"))
                    } else if !interface.contains(gatewayAddress) && gatewayAddress.scope != .linkLocal {
                        issues.append(
                            .init(
                                "network.address.gateway",
                                "\(gateway) is not in \(subnet(interface))",
                                hint: "a router inside the node's subnet"
                            )
                        )
                    } else if gatewayAddress == interface.networkAddress || gatewayAddress == interface.broadcastAddress
                    {
                        issues.append(
                            .init("network.address.gateway", "\(gateway) is not a host address in \(subnet(interface))")
                        )
                    }
                }
            } else {
                issues.append(
                    .init("network.address.gateway", "'\(gateway)' is not an IP address", hint: "as 10.0.0.1")
                )
            }
        } else {
            issues.append(.init("network.address.gateway", "missing", hint: "mode: static needs the default gateway"))
        }
        if address.dns.isEmpty {
            issues.append(
                .init(
                    "network.address.dns",
                    "missing",
                    hint: "mode: static needs one or more DNS servers, as [10.0.0.2]"
                )
            )
        }
        return issues
    }

    private func subnet(_ interface: IPInterface) -> String {
        guard let network = interface.networkAddress else { return "the subnet of \(interface)" }
        return "\(network)/\(interface.prefix)"
    }

    private func validateStorage(sizing: SizingTable) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        if let problem = PathRules.problem(storage.state) {
            issues.append(.init("storage.state", problem, hint: "an absolute path such as /var/lib/cachenode"))
        }
        let minimum = sizing.minimumDriveGB(profile: resources.profile)
        var seen: [String: Int] = [:]
        for (index, drive) in storage.drives.enumerated() {
            let path = "storage.drives[\(index)]"
            if let problem = PathRules.problem(drive.path) {
                issues.append(.init("\(path).path", problem, hint: "an absolute path such as /srv/cache"))
            } else {
                let normalized = PathRules.normalized(drive.path)
                if let first = seen[normalized] {
                    issues.append(
                        .init("\(path).path", "\(drive.path) is already drive \(first)", hint: "each drive once")
                    )
                } else if let (other, otherIndex) = seen.first(where: {
                    PathRules.isInside(normalized, $0.key) || PathRules.isInside($0.key, normalized)
                }) {
                    issues.append(
                        .init(
                            "\(path).path",
                            "\(drive.path) overlaps drive \(otherIndex) (\(other))",
                            hint: "drives must not contain each other"
                        )
                    )
                }
                seen[normalized] = seen[normalized] ?? index
            }
            if drive.sizeGB <= 0 {
                issues.append(.init("\(path).size_gb", "must be positive", hint: "at least \(format(minimum)) GB"))
            } else if drive.sizeGB < minimum {
                issues.append(
                    .init(
                        "\(path).size_gb",
                        "\(format(drive.sizeGB)) GB is below the minimum of \(format(minimum)) GB per drive",
                        hint: "at least \(format(minimum))"
                    )
                )
            }
        }
        return issues
    }

    private func validateResources(sizing: SizingTable) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        if resources.memoryGB < 1 {
            issues.append(.init("resources.memory_gb", "must be a positive whole number of GB", hint: "as 8"))
        }
        if resources.cores < 1 {
            issues.append(.init("resources.cores", "must be a positive whole number", hint: "as 8"))
        }
        if let profile = resources.profile, sizing.profile(named: profile) == nil {
            issues.append(
                .init(
                    "resources.profile",
                    "no sizing profile '\(profile)'",
                    hint: sizing.profiles.map(\.id).joined(separator: ", ")
                )
            )
        }
        return issues
    }

    private func validateHTTPS(
        _ https: HTTPS,
        listen: ListenAddress?,
        admin: ListenAddress?
    ) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        if let address = ListenAddress(https.listen) {
            for (key, other) in [("engine.listen", listen), ("engine.admin", admin)] {
                if let other, address.clashes(with: other) {
                    issues.append(
                        .init("engine.https.listen", "\(address) clashes with \(key) \(other)", hint: "0.0.0.0:443")
                    )
                }
            }
        } else {
            issues.append(
                .init(
                    "engine.https.listen",
                    "'\(https.listen)' is not address:port",
                    hint: "as 0.0.0.0:443 or [::]:443"
                )
            )
        }
        let files: [(String, String?)] = [
            ("engine.https.certificate_file", https.certificateFile),
            ("engine.https.key_file", https.keyFile),
            ("engine.https.chain_file", https.chainFile),
        ]
        for case let (key, file?) in files {
            if let problem = PathRules.problem(file) {
                issues.append(.init(key, problem, hint: "an absolute path to a PEM file"))
            }
        }
        if https.certificateFile == https.keyFile && !https.keyFile.isEmpty {
            issues.append(
                .init(
                    "engine.https.key_file",
                    "the same file as certificate_file",
                    hint: "the key in a file of its own (0600)"
                )
            )
        }
        for (index, name) in https.names.enumerated()
        where IPAddress(name) == nil && !OriginAllowlist.isValidHostName(name) {
            issues.append(
                .init(
                    "engine.https.names[\(index)]",
                    "'\(name)' is not a host name or IP address",
                    hint: "the names clients use in DOCacheHost, as cache.example.org or 10.0.0.50"
                )
            )
        }
        if https.handshakeTimeoutSeconds < 1 || https.handshakeTimeoutSeconds > 120 {
            issues.append(
                .init(
                    "engine.https.handshake_timeout_s",
                    "must be a whole number of seconds from 1 to 120, found \(https.handshakeTimeoutSeconds)",
                    hint: "\(HTTPS.defaultHandshakeTimeoutSeconds)"
                )
            )
        }
        return issues
    }

    private func validateEngine() -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        let listen = ListenAddress(engine.listen)
        let admin = ListenAddress(engine.admin)
        if listen == nil {
            issues.append(
                .init("engine.listen", "'\(engine.listen)' is not address:port", hint: "as 0.0.0.0:80 or [::]:80")
            )
        }
        if admin == nil {
            issues.append(
                .init("engine.admin", "'\(engine.admin)' is not address:port", hint: "as 127.0.0.1:5000")
            )
        }
        if let listen, let admin, listen.clashes(with: admin) {
            issues.append(
                .init(
                    "engine.admin",
                    "\(admin) clashes with engine.listen \(listen)",
                    hint: "a different port, as 127.0.0.1:5000"
                )
            )
        }
        if let proxy = engine.upstreamProxy, ProxyURL(proxy) == nil {
            issues.append(
                .init(
                    "engine.upstream_proxy",
                    "'\(ProxyURL.redacting(proxy))' is not an http proxy URL",
                    hint: "http://host:port"
                )
            )
        }
        if let file = engine.upstreamProxyPasswordFile {
            let key = "engine.upstream_proxy_password_file"
            let proxy = engine.upstreamProxy.flatMap(ProxyURL.init)
            if let problem = PathRules.problem(file) {
                issues.append(
                    .init(key, problem, hint: "an absolute path such as /var/lib/cachenode/upstream-proxy.password")
                )
            } else if engine.upstreamProxy == nil {
                issues.append(.init(key, "set, but engine.upstream_proxy is not", hint: "null, or name the proxy too"))
            } else if let proxy, proxy.user == nil {
                issues.append(
                    .init(key, "the proxy URL names no user", hint: "http://user@host:port in engine.upstream_proxy")
                )
            } else if let proxy, proxy.password != nil {
                issues.append(
                    .init(
                        key,
                        "engine.upstream_proxy carries a password too",
                        hint: "the password in one place: drop it from the URL"
                    )
                )
            }
        }
        for (index, origin) in engine.extraOrigins.enumerated() {
            do {
                _ = try OriginPattern(origin)
            } catch {
                issues.append(
                    .init(
                        "engine.extra_origins[\(index)]",
                        error.description,
                        hint: "as cdn.example.org, *.example.org, 127.0.0.1 or https://cdn.example.org:8443"
                    )
                )
            }
        }
        let blockSize = engine.blockSizeKB
        if blockSize < 64 || blockSize > 16384 || blockSize & (blockSize - 1) != 0 {
            issues.append(
                .init("engine.block_size_kb", "\(blockSize) is not a power of two from 64 to 16384", hint: "1024")
            )
        }
        let positives: [(String, Int)] = [
            ("engine.max_connections", engine.maxConnections),
            ("engine.origin_connect_timeout_s", engine.originConnectTimeoutSeconds),
            ("engine.origin_read_timeout_s", engine.originReadTimeoutSeconds),
            ("engine.idle_timeout_s", engine.idleTimeoutSeconds),
        ]
        for (path, value) in positives where value < 1 {
            issues.append(.init(path, "must be a positive whole number, found \(value)"))
        }
        if engine.fillConnections < 1 || engine.fillConnections > 16 {
            issues.append(
                .init(
                    "engine.fill_connections",
                    "must be a whole number from 1 to 16, found \(engine.fillConnections)",
                    hint: "4"
                )
            )
        }
        if let file = engine.originCAFile, let problem = PathRules.problem(file) {
            issues.append(.init("engine.origin_ca_file", problem, hint: "an absolute path to a PEM file of CAs"))
        }
        if let https = engine.https {
            issues += validateHTTPS(https, listen: listen, admin: admin)
        }
        if engine.staleIfErrorSeconds < 0 || engine.staleIfErrorSeconds > 30 * 86_400 {
            issues.append(
                .init(
                    "engine.stale_if_error_s",
                    "must be a whole number of seconds from 0 (never) to 2592000 (30 days), found "
                        + "\(engine.staleIfErrorSeconds)",
                    hint: "86400"
                )
            )
        }
        return issues
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// The naming rules shared by the answer file, the wizard and the registry.
package enum NameRules {
    package static let nodeNameRule = "1 to 63 letters, digits and hyphens, not starting or ending with a hyphen"
    package static let hubNameRule = nodeNameRule + ", never containing \"microsoft\""
    package static let interfaceNameRule = "1 to 15 characters, no spaces, '/' or ':'"

    /// Why `name` cannot name a cache node, or `nil` when it can.
    package static func nodeNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        if name.contains(where: \.isWhitespace) { return "'\(name)' contains a space" }
        if let bad = name.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-")) }) {
            return "'\(name)' contains '\(bad)', which is not a letter, digit or hyphen"
        }
        if name.count > 63 { return "'\(name.prefix(20))…' is \(name.count) characters long" }
        if name.hasPrefix("-") || name.hasSuffix("-") { return "'\(name)' starts or ends with a hyphen" }
        return nil
    }

    /// Why `name` cannot name a hub, or `nil` when it can.
    package static func hubNameProblem(_ name: String) -> String? {
        if let problem = nodeNameProblem(name) { return problem }
        if name.lowercased().contains("microsoft") { return "'\(name)' contains \"microsoft\"" }
        return nil
    }

    /// Why `name` cannot name a network interface, or `nil` when it can.
    package static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        if name.utf8.count > 15 { return "'\(name)' is longer than 15 characters" }
        if name == "." || name == ".." { return "'\(name)' is not a name" }
        if name.contains(where: { $0.isWhitespace || $0 == "/" || $0 == ":" || !$0.isASCII }) {
            return "'\(name)' contains a space, '/', ':' or a non-ASCII character"
        }
        return nil
    }
}

/// Absolute paths, compared after normalisation.
package enum PathRules {
    package static func problem(_ path: String) -> String? {
        if path.isEmpty { return "the path is empty" }
        if !path.hasPrefix("/") { return "'\(path)' is not an absolute path" }
        if path.contains("\0") { return "the path contains a NUL character" }
        if path.split(separator: "/").contains("..") { return "'\(path)' contains '..'" }
        return nil
    }

    /// Directories the service must never take over: their contents belong to the system or to people.
    static let systemDirectories: Set<String> = [
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
        "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/cache", "/var/lib",
        "/var/log", "/var/spool", "/var/tmp", "/var/mail", "/var/www",
    ]
    /// Trees whose every directory belongs to the system, to the kernel or to a person.
    static let systemTrees = [
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/proc", "/root",
        "/run", "/sbin", "/sys", "/usr",
    ]

    /// Why the service must not own `path` (it is handed to user `cachenode`), or `nil`.
    package static func systemPathProblem(_ path: String) -> String? {
        let normalized = normalized(path)
        if systemDirectories.contains(normalized) {
            return "\(normalized) is a system directory; the cache needs a directory of its own"
        }
        if let tree = systemTrees.first(where: { isInside(normalized, $0) }) {
            return tree == "/home" || tree == "/root"
                ? "\(normalized) is inside a home directory, which the service cannot and must not take over"
                : "\(normalized) is inside \(tree), which belongs to the system"
        }
        return nil
    }

    /// What an install must not hand to the service: the state directory or a drive that is a system directory or
    /// inside one (checked on the paths as the configuration names them, not on the installed ones).
    package static func ownershipProblems(_ storage: NodeConfiguration.Storage) -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        if let problem = systemPathProblem(storage.state) {
            issues.append(.init("storage.state", problem, hint: "a directory of its own, such as /var/lib/cachenode"))
        }
        for (index, drive) in storage.drives.enumerated() {
            if let problem = systemPathProblem(drive.path) {
                issues.append(
                    .init("storage.drives[\(index)].path", problem, hint: "a directory of its own, such as /srv/cache")
                )
            }
        }
        return issues
    }

    /// `/srv//cache/./x/` → `/srv/cache/x`.
    package static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// Whether `inner` is strictly below `outer` (both normalised).
    package static func isInside(_ inner: String, _ outer: String) -> Bool {
        inner != outer && (outer == "/" || inner.hasPrefix(outer + "/"))
    }
}

/// `http://[user:password@]host:port`, the only form of upstream proxy the origin client speaks.
package struct ProxyURL: Equatable, Sendable {
    package var host: String
    package var port: Int
    /// Basic authentication for the proxy, when the URL carries `user:password@`.
    package var user: String?
    package var password: String?

    package init?(_ text: String) {
        guard text.hasPrefix("http://") else { return nil }
        var rest = text.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            // `user:password@`, or `user@` with the password in upstream_proxy_password_file.
            let separator = userinfo.firstIndex(of: ":") ?? userinfo.endIndex
            guard separator != userinfo.startIndex, !userinfo.contains(where: { $0 == "/" || $0.isWhitespace }) else {
                return nil
            }
            user = String(userinfo[..<separator]).removingPercentEscapes()
            password =
                separator == userinfo.endIndex
                ? nil : String(userinfo[userinfo.index(after: separator)...]).removingPercentEscapes()
            rest = rest[rest.index(after: at)...]
        }
        guard !rest.contains("@"), !rest.contains("/"), let colon = rest.lastIndex(of: ":") else { return nil }
        var host = String(rest[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = rest[rest.index(after: colon)...]
        guard !host.isEmpty, IPAddress(host) != nil || OriginAllowlist.isValidHostName(host),
            port.count <= 5, !port.isEmpty, port.allSatisfy(\.isNumber), let number = Int(port),
            (1...65535).contains(number)
        else { return nil }
        self.host = host
        self.port = number
    }

    /// `text` without the password of a `scheme://user:password@` URL: `scheme://user@...`.
    package static func removingPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<colon]) + String(text[at...])
    }

    /// `text` with the password of a `scheme://user:password@` URL replaced by `****`, for screens and logs.
    package static func redacting(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[...colon]) + "****" + String(text[at...])
    }
}

extension String {
    /// `%41` as `A`; a malformed escape is kept as it is.
    package func removingPercentEscapes() -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
