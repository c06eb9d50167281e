/// What the host probe read from a machine; `nil` wherever a value could not be read.
package struct HostFacts: Equatable, Sendable {
    package struct Storage: Equatable, Sendable {
        /// The path that was measured (the state or cache path asked about).
        package var path: String
        package var freeBytes: Int64?
        package var totalBytes: Int64?
        /// The block device behind the path, as `sda` or `nvme0n1`.
        package var device: String?
        /// `true` for a spinning disk, `false` for SSD/NVMe.
        package var rotational: Bool?

        package init(
            path: String,
            freeBytes: Int64? = nil,
            totalBytes: Int64? = nil,
            device: String? = nil,
            rotational: Bool? = nil
        ) {
            self.path = path
            self.freeBytes = freeBytes
            self.totalBytes = totalBytes
            self.device = device
            self.rotational = rotational
        }
    }

    /// A network interface from `/sys/class/net`.
    package struct Interface: Equatable, Sendable {
        package var name: String
        /// Link speed in Mbit/s; `nil` when the driver does not say (down links, many virtual NICs).
        package var speedMbps: Int?
        /// `up`, `down`, `unknown`, ...
        package var state: String
        package var mac: String?
        /// Backed by a device (a real or virtual NIC), not a software interface.
        package var isPhysical: Bool
        package var isBridge: Bool
        /// For a bridge, its member interfaces.
        package var bridgeMembers: [String]
        /// The bridge this interface belongs to, if any.
        package var bridge: String?
        /// SR-IOV virtual functions the NIC supports; `nil` when it has none.
        package var sriovTotalVFs: Int?
        /// Addresses with prefix, as `10.0.0.50/24`.
        package var addresses: [String]

        package init(
            name: String,
            speedMbps: Int? = nil,
            state: String = "unknown",
            mac: String? = nil,
            isPhysical: Bool = false,
            isBridge: Bool = false,
            bridgeMembers: [String] = [],
            bridge: String? = nil,
            sriovTotalVFs: Int? = nil,
            addresses: [String] = []
        ) {
            self.name = name
            self.speedMbps = speedMbps
            self.state = state
            self.mac = mac
            self.isPhysical = isPhysical
            self.isBridge = isBridge
            self.bridgeMembers = bridgeMembers
            self.bridge = bridge
            self.sriovTotalVFs = sriovTotalVFs
            self.addresses = addresses
        }
    }

    package struct OperatingSystem: Equatable, Sendable {
        /// `/etc/os-release` ID, as `debian`.
        package var id: String?
        package var versionID: String?
        package var prettyName: String?
        /// The running kernel, as `6.1.0-18-amd64`.
        package var kernel: String?

        package init(id: String? = nil, versionID: String? = nil, prettyName: String? = nil, kernel: String? = nil) {
            self.id = id
            self.versionID = versionID
            self.prettyName = prettyName
            self.kernel = kernel
        }
    }

    package var cores: Int?
    package var memoryBytes: Int64?
    package var storage: Storage?
    package var interfaces: [Interface]
    package var os: OperatingSystem
    /// Whether the engine's listen port can be bound; `nil` when not checked.
    package var listenPortFree: Bool?
    package var listenAddress: String?
    /// The interfaces that carry a default route (IPv4 or IPv6), as the routing table names them.
    package var defaultRouteInterfaces: [String]

    package init(
        cores: Int? = nil,
        memoryBytes: Int64? = nil,
        storage: Storage? = nil,
        interfaces: [Interface] = [],
        os: OperatingSystem = OperatingSystem(),
        listenPortFree: Bool? = nil,
        listenAddress: String? = nil,
        defaultRouteInterfaces: [String] = []
    ) {
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.storage = storage
        self.interfaces = interfaces
        self.os = os
        self.listenPortFree = listenPortFree
        self.listenAddress = listenAddress
        self.defaultRouteInterfaces = defaultRouteInterfaces
    }

    /// NICs a node could serve from: devices that are not bridges, and the adapter that carries the default route
    /// even when it is virtual (a veth in a container, a NIC whose driver shows no device).
    package var adapters: [Interface] { adapters(named: nil, carrying: nil) }

    /// The NICs a node could serve from, with the adapter the answers name (`network.switch.adapter`) and the one
    /// that carries `address`, virtual or not: a container's veth on an isolated segment has no default route.
    package func adapters(named adapter: String?, carrying address: IPAddress?) -> [Interface] {
        let serving = Set((uplinks(carrying: address, named: adapter) + uplinks(carrying: nil)).map(\.name))
        return interfaces.filter { !$0.isBridge && ($0.isPhysical || serving.contains($0.name)) }
    }

    /// The adapters the node's traffic goes through: the adapter the answers name, else those behind the interface
    /// that has `address`, or, when no interface has it yet, those behind the default route. A bridge stands for its
    /// members.
    package func uplinks(carrying address: IPAddress?, named adapter: String? = nil) -> [Interface] {
        var names: [String] = []
        if let adapter, interfaces.contains(where: { $0.name == adapter && !$0.isBridge }) { names = [adapter] }
        if names.isEmpty, let address {
            names = interfaces.filter { $0.addresses.contains { IPInterface($0)?.address == address } }.map(\.name)
        }
        if names.isEmpty { names = defaultRouteInterfaces }
        var result: [Interface] = []
        for name in names {
            guard let interface = interfaces.first(where: { $0.name == name }) else { continue }
            let members = interface.isBridge ? interface.bridgeMembers : [name]
            for member in members {
                if let adapter = interfaces.first(where: { $0.name == member && !$0.isBridge }),
                    !result.contains(where: { $0.name == member })
                {
                    result.append(adapter)
                }
            }
        }
        return result
    }

    /// The machine's switches (Linux bridges).
    package var bridges: [Interface] { interfaces.filter(\.isBridge) }
}
