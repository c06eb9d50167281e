/// Whether applying a configuration's network can cut the operator off the machine: the adapter a new switch takes
/// over, or the switch whose address is rewritten, carries the operator's SSH connection or the default route.
package enum OperatorLink {
    /// The server-side address of `SSH_CONNECTION` (`client-ip client-port server-ip server-port`).
    package static func sshServerAddress(_ value: String?) -> IPAddress? {
        guard let fields = value?.split(separator: " "), fields.count == 4 else { return nil }
        let text = fields[2].split(separator: "%").first.map(String.init) ?? ""
        return IPAddress(text).map { $0.mappedIPv4 ?? $0 }
    }

    /// The interfaces whose configuration the install rewrites: the switch, and the adapter a new switch takes over.
    package static func touchedInterfaces(_ configuration: NodeConfiguration) -> [String] {
        var names = [configuration.network.switch.name]
        if configuration.network.switch.mode == .create, let adapter = configuration.network.switch.adapter {
            names.append(adapter)
        }
        return names
    }

    /// Why applying `configuration`'s network can cut the operator's connection, or `nil` when it cannot.
    package static func risk(_ configuration: NodeConfiguration, facts: HostFacts, ssh: IPAddress?) -> String? {
        let touched = touchedInterfaces(configuration)
        func role(_ name: String) -> String {
            name == configuration.network.switch.name
                ? "whose address this install sets" : "which switch \(configuration.network.switch.name) takes over"
        }
        func carriers(_ names: [String]) -> [String] {
            // A bridge carries the traffic of its members: touching a member touches what the bridge carries.
            names.flatMap { name -> [String] in
                let interface = facts.interfaces.first { $0.name == name }
                return [name] + (interface?.bridgeMembers ?? [])
            }
        }
        if let ssh {
            let carrying = facts.interfaces.filter { $0.addresses.contains { IPInterface($0)?.address == ssh } }.map(
                \.name
            )
            if let name = carriers(carrying).first(where: touched.contains) {
                return "your SSH connection to \(ssh) runs over \(name), \(role(name))"
            }
        }
        if let name = carriers(facts.defaultRouteInterfaces).first(where: touched.contains) {
            return "the default route runs over \(name), \(role(name))"
        }
        return nil
    }
}
