import CacheNodeCore

/// Turns a configuration into an `InstallPlan`: renders every template and compares with what is on disk.
package struct InstallPlanner: Sendable {
    package var templates: TemplateSet
    package var policy: ClientPolicy
    /// The `cachenode` binary the service and the background engine run.
    package var binary: String
    package var hostName: String
    package var version: String
    /// Whether netplan manages this machine's network (else systemd-networkd files are written).
    package var usesNetplan: Bool

    package init(
        templates: TemplateSet,
        policy: ClientPolicy,
        binary: String,
        hostName: String,
        version: String,
        usesNetplan: Bool = false
    ) {
        self.templates = templates
        self.policy = policy
        self.binary = binary
        self.hostName = hostName
        self.version = version
        self.usesNetplan = usesNetplan
    }

    /// `secrets` are files to write with mode 0600 and never show (the proxy password), by path as configured.
    package func plan(
        _ configuration: NodeConfiguration,
        root: String,
        previous: NodeConfiguration? = nil,
        secrets: [String: String] = [:]
    ) throws(InstallError) -> InstallPlan {
        if let previous, previous.node.name != configuration.node.name {
            throw .nodeNameChanged(installed: previous.node.name, requested: configuration.node.name)
        }
        let layout = InstallLayout(root: root, state: configuration.storage.state)
        let cacheHost = configuration.cacheHost(hostName: hostName)
        var context = RenderContext(
            configuration: configuration,
            layout: layout,
            binary: binary,
            cacheHost: cacheHost,
            policy: policy,
            version: version
        ).values
        // A new switch keeps its adapter's MAC address, so the network (neighbours' ARP caches, DHCP reservations)
        // goes on knowing the node when the switch takes over, and again when it is rolled back or removed.
        if layout.isRealInstall, configuration.network.switch.mode == .create,
            let adapter = configuration.network.switch.adapter,
            let mac = Self.macAddress(of: adapter)
        {
            context["adapter_mac"] = mac
        }

        var files: [(String, String, UInt32, String)] = [
            (layout.configuration, "cachenode.yaml", 0o640, "node configuration (read by cachenode serve)"),
            (layout.answers, "", 0o640, "the answers, to replay with setup --answers"),
            (layout.deploymentManifest, "deployment.json", 0o644, "deployment manifest"),
            (layout.unit, "cachenode.service", 0o644, "systemd unit"),
            (layout.firewall, "cachenode.nft", 0o644, "nftables rules"),
        ]
        let network = configuration.network
        if usesNetplan {
            files.append((layout.netplanFile, "netplan.yaml", 0o600, "netplan: switch \(network.switch.name)"))
        } else {
            let prefix = layout.networkdDirectory + "/60-cachenode-\(network.switch.name)"
            if network.switch.mode == .create {
                files.append(
                    (prefix + ".netdev", "bridge.netdev", 0o644, "networkd: create switch \(network.switch.name)")
                )
                if let adapter = network.switch.adapter {
                    files.append(
                        (
                            layout.networkdDirectory + "/60-cachenode-\(adapter).network", "bridge-member.network",
                            0o644,
                            "networkd: \(adapter) joins \(network.switch.name)"
                        )
                    )
                }
            }
            files.append((prefix + ".network", "bridge.network", 0o644, "networkd: address of \(network.switch.name)"))
        }
        for name in templates.names where name.hasPrefix("policy/") {
            let fileName = String(name.dropFirst("policy/".count))
            files.append((layout.policyDirectory + "/" + fileName, name, 0o644, "client policy: \(fileName)"))
        }

        var planned: [InstallPlan.File] = []
        for (path, template, mode, purpose) in files {
            var content: String
            if template.isEmpty {
                content = AnswerFile.emit(
                    configuration,
                    header:
                        "Answers of the install of node \(configuration.node.name); replay with: cachenode setup --answers FILE"
                )
            } else {
                content = try templates.render(template, context)
            }
            // Files that Windows tools read keep Windows line endings.
            if path.hasSuffix(".reg") || path.hasSuffix(".cmd") {
                content = content.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
            }
            let previousBytes = try FileSystem.contents(path)
            let previousText = previousBytes.map { String(decoding: $0, as: UTF8.self) }
            let change: InstallPlan.File.Change =
                previousText == nil ? .create : (previousText == content ? .unchanged : .update)
            planned.append(
                .init(
                    path: path,
                    content: content,
                    mode: mode,
                    purpose: purpose,
                    change: change,
                    previous: previousText
                )
            )
        }
        for (path, secret) in secrets.sorted(by: { $0.key < $1.key }) {
            let path = layout.onDisk(path)
            let previousText = try FileSystem.contents(path).map { String(decoding: $0, as: UTF8.self) }
            let change: InstallPlan.File.Change =
                previousText == nil ? .create : (previousText == secret ? .unchanged : .update)
            planned.append(
                .init(
                    path: path,
                    content: secret,
                    mode: 0o600,
                    purpose: "upstream proxy password (secret)",
                    change: change,
                    previous: previousText,
                    isSecret: true
                )
            )
        }

        var commands: [InstallPlan.Command] = []
        if layout.isRealInstall {
            let networkChanged = planned.contains {
                $0.change != .unchanged
                    && ($0.path.hasPrefix(layout.networkdDirectory) || $0.path == layout.netplanFile)
            }
            if networkChanged {
                commands.append(
                    .init(step: .network, arguments: usesNetplan ? ["netplan", "apply"] : ["networkctl", "reload"])
                )
            }
            commands.append(.init(step: .firewall, arguments: ["nft", "-f", layout.firewall]))
            commands.append(.init(step: .engine, arguments: ["systemctl", "daemon-reload"]))
            commands.append(.init(step: .engine, arguments: ["systemctl", "enable", "cachenode.service"]))
            commands.append(.init(step: .engine, arguments: ["systemctl", "restart", "cachenode.service"]))
        }
        return InstallPlan(
            configuration: configuration,
            layout: layout,
            files: planned,
            commands: commands,
            previous: previous,
            cacheHost: cacheHost,
            httpsNames: configuration.engine.https == nil
                ? [] : CertificateRules.requiredNames(configuration, hostName: hostName)
        )
    }
}

extension InstallPlanner {
    /// The MAC address of a live network interface, as `/sys/class/net/NAME/address` gives it.
    static func macAddress(of interface: String) -> String? {
        guard !interface.contains("/"), let bytes = try? FileSystem.contents("/sys/class/net/\(interface)/address")
        else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \n")
        let parts = text.split(separator: ":")
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }),
            text != "00:00:00:00:00:00"
        else { return nil }
        return text
    }
}

extension InstallPlan {
    /// The plan as `--dry-run` prints it: changed settings, each file with its diff, each command.
    package func describe() -> String {
        var out = ""
        if let previous {
            let changes = configuration.changes(from: previous)
            out += changes.isEmpty ? "Settings: no change.\n" : "Settings that change:\n"
            for change in changes { out += "  \(change.key): \(change.old) -> \(change.new)\n" }
            out += "\n"
        }
        out += "Files (\(changedFiles.count) of \(files.count) change):\n"
        for file in files {
            out += "  \(file.change.rawValue.padding(9)) \(layout.logical(file.path))  (\(file.purpose))\n"
        }
        for file in changedFiles {
            guard !file.isSecret else {
                out += "\n\(layout.logical(file.path)): a secret, not shown\n"
                continue
            }
            out +=
                "\n"
                + LineDiff.unified(
                    old: file.previous ?? "",
                    new: file.content,
                    oldName: file.previous == nil ? "/dev/null" : "a" + layout.logical(file.path),
                    newName: "b" + layout.logical(file.path)
                )
        }
        out += "\nCommands:\n"
        if commands.isEmpty {
            out +=
                layout.isRealInstall
                ? "  (none)\n"
                : "  (none: --root changes no network, firewall or service manager)\n"
                    + "  start the engine: \(layout.logical(layout.pidFile)) records its process\n"
        }
        for command in commands { out += "  [\(command.step.rawValue)] \(command.arguments.joined(separator: " "))\n" }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
