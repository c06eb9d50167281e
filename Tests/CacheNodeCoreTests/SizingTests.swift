import CacheNodeCore
import Testing

struct SizingTableTests {
    @Test func theShippedTableHoldsTheRequirementsFigures() throws {
        let sizing = TestResources.sizing
        #expect(sizing.offered.map(\.id) == ["branch", "large"])
        let branch = try #require(sizing.profile(named: "branch"))
        let large = try #require(sizing.profile(named: "large"))
        #expect([branch.nicGbps, branch.diskGB, branch.memoryGB] == [1, 50, 4])
        #expect(branch.cores == 4)
        #expect([large.nicGbps, large.diskGB, large.memoryGB] == [5, 200, 8])
        #expect(large.cores == 8)
        #expect(sizing.minimumDriveGB(profile: nil) == 50)
        #expect(sizing.minimumDriveGB(profile: "test") < 1)
    }

    @Test(arguments: [
        ("version: 2\nprofiles: []\n", "version 2"),
        ("version: 1\nprofiles: []\nfloor: {cores: 1, memory_gb: 1, nic_gbps: 0}\n", "cannot read"),
        ("not: [a table", "cannot read"),
    ])
    func aBrokenTableIsAClearError(_ yaml: String, _ expected: String) {
        do {
            _ = try SizingTable(yaml: yaml)
            Issue.record("accepted a broken table")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test func profileValuesMustBePositive() throws {
        let yaml = try TestResources.text("Resources/sizing.yaml").replacingFirst("cores: 4", with: "cores: 0")
        #expect(throws: SizingTableError.self) { try SizingTable(yaml: yaml) }
    }
}

struct CapacityPlanTests {
    @Test func theRequirementsFigureComesOut() throws {
        let plan = try CapacityPlan(devices: 35_000, payloadGB: 2, windowHours: 24, sizing: TestResources.sizing)
        #expect((plan.requiredGbps * 10).rounded() / 10 == 6.5)
        #expect(plan.profile.id == "large")
    }

    @Test(
        arguments: [
            (500, 2.0, 24.0, nil, "branch", 1),
            (35_000, 2.0, 24.0, 10.0, "large", 1),
            (35_000, 2.0, 24.0, 5.0, "large", 2),
            (100_000, 4.0, 12.0, 10.0, "large", 9),
        ] as [(Int, Double, Double, Double?, String, Int)]
    )
    func profileAndNodes(
        _ devices: Int,
        _ payload: Double,
        _ hours: Double,
        _ nic: Double?,
        _ profile: String,
        _ nodes: Int
    ) throws {
        let plan = try CapacityPlan(
            devices: devices,
            payloadGB: payload,
            windowHours: hours,
            nicGbps: nic,
            sizing: TestResources.sizing
        )
        #expect(plan.profile.id == profile)
        #expect(plan.nodes == nodes)
    }

    @Test(
        arguments: [(0, 2.0, 24.0), (10, 0, 24), (10, 2, 0), (10, 2, -1), (10, .infinity, 24)]
            as [(Int, Double, Double)]
    )
    func refusesNonsense(_ devices: Int, _ payload: Double, _ hours: Double) {
        #expect(throws: CapacityPlanError.self) {
            try CapacityPlan(devices: devices, payloadGB: payload, windowHours: hours, sizing: TestResources.sizing)
        }
    }
}

struct HostCheckTests {
    static func facts(
        cores: Int? = 8,
        memoryGiB: Double? = 16,
        freeGB: Double? = 500,
        rotational: Bool? = false,
        nics: [Int?] = [10_000]
    ) -> HostFacts {
        HostFacts(
            cores: cores,
            memoryBytes: memoryGiB.map { Int64($0 * 1_073_741_824) },
            storage: .init(path: "/srv", freeBytes: freeGB.map { Int64($0 * 1e9) }, rotational: rotational),
            interfaces: nics.enumerated().map { .init(name: "eth\($0)", speedMbps: $1, state: "up", isPhysical: true) },
            os: .init(id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12", kernel: "6.1.0-18-amd64")
        )
    }

    static func statuses(_ facts: HostFacts, _ profile: String) -> [String: CheckStatus] {
        let check = HostCheck(facts: facts, sizing: TestResources.sizing)
        return Dictionary(
            uniqueKeysWithValues: check.rows.compactMap { row in row.verdict(for: profile).map { (row.id, $0.status) } }
        )
    }

    @Test func aLargeServerPassesBothProfiles() {
        let check = HostCheck(facts: Self.facts(), sizing: TestResources.sizing)
        #expect(check.rows.map(\.id) == ["cores", "memory", "disk", "disk-type", "nic-count", "nic-speed", "os"])
        #expect(check.rows.allSatisfy { $0.worst == .pass })
        #expect(check.fittingProfile == "large")
        #expect(!check.isBlocked)
    }

    @Test func aBranchMachineWarnsAgainstLarge() {
        let facts = Self.facts(cores: 4, memoryGiB: 3.75, freeGB: 120, nics: [1000])
        #expect(Set(Self.statuses(facts, "branch").values) == [.pass])
        #expect(
            Self.statuses(facts, "large") == [
                "cores": .warning, "memory": .warning, "disk": .warning, "disk-type": .pass, "nic-count": .pass,
                "nic-speed": .warning, "os": .pass,
            ]
        )
        #expect(HostCheck(facts: facts, sizing: TestResources.sizing).fittingProfile == "branch")
    }

    @Test(arguments: [
        ("cores", facts(cores: 1)),
        ("memory", facts(memoryGiB: 1)),
        ("disk", facts(freeGB: 20)),
        ("nic-count", facts(nics: [])),
        ("nic-speed", facts(nics: [10])),
    ])
    func belowTheFloorBlocks(_ row: String, _ facts: HostFacts) {
        let check = HostCheck(facts: facts, sizing: TestResources.sizing)
        #expect(check.isBlocked)
        #expect(check.rows.first { $0.id == row }?.worst == .blocking)
        #expect(check.blockingReasons.count == 1)
    }

    @Test func hddAndSeveralNICsAreWarnings() {
        let statuses = Self.statuses(Self.facts(rotational: true, nics: [10_000, 10_000]), "large")
        #expect(statuses["disk-type"] == .warning)
        #expect(statuses["nic-count"] == .warning)
    }

    @Test func unknownValuesSayUnknownAndWarn() {
        let check = HostCheck(facts: HostFacts(), sizing: TestResources.sizing)
        #expect(check.rows.first { $0.id == "cores" }?.measured == "unknown")
        #expect(check.rows.first { $0.id == "memory" }?.measured == "unknown")
        #expect(check.rows.first { $0.id == "disk" }?.measured == "unknown")
        #expect(check.rows.first { $0.id == "disk-type" }?.measured == "unknown")
        #expect(check.rows.first { $0.id == "os" }?.measured == "unknown")
        #expect(check.rows.first { $0.id == "cores" }?.worst == .warning)
    }

    @Test(arguments: [
        (HostFacts.OperatingSystem(id: "debian", versionID: "12", kernel: "6.1.0"), CheckStatus.pass),
        (.init(id: "ubuntu", versionID: "18.04", kernel: "4.18.0"), .warning),
        (.init(id: "ubuntu", versionID: "24.04", kernel: "6.8.0-31-generic"), .pass),
        (.init(id: "arch", versionID: nil, kernel: "6.9.1-arch1-1"), .warning),
        (.init(id: "centos", versionID: "7", kernel: "3.10.0-1160.el7.x86_64"), .blocking),
    ])
    func operatingSystems(_ os: HostFacts.OperatingSystem, _ status: CheckStatus) {
        var facts = Self.facts()
        facts.os = os
        #expect(Self.statuses(facts, "branch")["os"] == status)
    }

    @Test func theAdapterThatCarriesTheChosenAddressIsJudged() {
        var facts = Self.facts(nics: [10_000, 100])
        facts.interfaces[1].addresses = ["198.51.100.50/24"]
        facts.interfaces.append(.init(name: "veth1a2b", speedMbps: 10_000, state: "up", bridge: "docker0"))
        facts.interfaces.append(.init(name: "docker0", isBridge: true, bridgeMembers: ["veth1a2b"]))
        facts.defaultRouteInterfaces = ["eth0"]
        #expect(facts.adapters.map(\.name) == ["eth0", "eth1"], "a container's veth on a local bridge is no adapter")
        let byRoute = HostCheck(facts: facts, sizing: TestResources.sizing)
        #expect(byRoute.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on eth0")
        let byAddress = HostCheck(facts: facts, sizing: TestResources.sizing, address: IPAddress("198.51.100.50"))
        #expect(byAddress.rows.first { $0.id == "nic-speed" }?.measured == "0.1 Gbps on eth1")
        #expect(byAddress.rows.first { $0.id == "nic-speed" }?.worst == .warning)
        let notYetThere = HostCheck(facts: facts, sizing: TestResources.sizing, address: IPAddress("198.51.100.60"))
        #expect(
            notYetThere.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on eth0",
            "falls back to the route"
        )
    }

    @Test func aVirtualAdapterWithTheDefaultRouteCountsAndAVirtualOneWithoutDoesNot() {
        var facts = Self.facts(nics: [])
        facts.interfaces = [.init(name: "host0", speedMbps: 10_000, state: "up")]
        #expect(
            HostCheck(facts: facts, sizing: TestResources.sizing).rows.first { $0.id == "nic-count" }?.worst
                == .blocking
        )
        facts.defaultRouteInterfaces = ["host0"]
        let check = HostCheck(facts: facts, sizing: TestResources.sizing)
        #expect(check.rows.first { $0.id == "nic-count" }?.worst == .pass)
        #expect(!check.isBlocked)
    }

    /// A booted container on an isolated segment: its only adapter is a veth with the node's address and no default
    /// route. The adapter the answers name is judged, virtual or not; with nothing named, the address finds it.
    @Test func theNamedAdapterIsJudgedWithoutADefaultRoute() {
        var facts = Self.facts(nics: [])
        facts.interfaces = [.init(name: "host0", speedMbps: 10_000, state: "up", addresses: ["198.51.100.50/24"])]
        facts.defaultRouteInterfaces = []
        let unnamed = HostCheck(facts: facts, sizing: TestResources.sizing)
        #expect(unnamed.blockingReasons == ["Network adapters: 0 (no network adapter found)"])
        let named = HostCheck(facts: facts, sizing: TestResources.sizing, adapter: "host0")
        #expect(named.rows.first { $0.id == "nic-count" }?.measured == "1")
        #expect(named.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on host0")
        #expect(!named.isBlocked, "\(named.blockingReasons)")
        let byAddress = HostCheck(facts: facts, sizing: TestResources.sizing, address: IPAddress("198.51.100.50"))
        #expect(byAddress.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on host0")
        #expect(!byAddress.isBlocked, "\(byAddress.blockingReasons)")
    }

    @Test func aNamedAdapterComesBeforeTheDefaultRoute() {
        var facts = Self.facts(nics: [10_000, 100])
        facts.defaultRouteInterfaces = ["eth0"]
        let named = HostCheck(facts: facts, sizing: TestResources.sizing, adapter: "eth1")
        #expect(named.rows.first { $0.id == "nic-speed" }?.measured == "0.1 Gbps on eth1")
        let unknown = HostCheck(facts: facts, sizing: TestResources.sizing, adapter: "eth9")
        #expect(unknown.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on eth0", "falls back to the route")
    }

    @Test func aBusyListenPortBlocks() {
        var facts = Self.facts()
        facts.listenPortFree = false
        facts.listenAddress = "0.0.0.0:80"
        let check = HostCheck(facts: facts, sizing: TestResources.sizing)
        #expect(check.isBlocked)
        #expect(check.blockingReasons == ["Listen port 0.0.0.0:80: in use (another program listens on 0.0.0.0:80)"])
    }
}
