import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Testing

struct SystemHostProbeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func probe(_ machine: String, storage: String = "/srv/cache") -> HostFacts {
        SystemHostProbe(root: fixtures.appendingPathComponent(machine).path).facts(
            storagePath: storage,
            listen: "0.0.0.0:80"
        )
    }

    @Test func aSmallVMWithOneNIC() {
        let facts = Self.probe("vm-2core")
        #expect(facts.cores == 2)
        #expect(facts.memoryBytes == Int64(3_994_024) * 1024)
        #expect(
            facts.os
                == .init(
                    id: "ubuntu",
                    versionID: "22.04",
                    prettyName: "Ubuntu 22.04.4 LTS",
                    kernel: "5.15.0-105-generic"
                )
        )
        #expect(facts.adapters.map(\.name) == ["ens3"])
        #expect(facts.adapters.first?.speedMbps == nil)
        #expect(facts.bridges.isEmpty)
        #expect(facts.storage?.device == "vda")
        #expect(facts.storage?.rotational == false)
        #expect(facts.listenPortFree == nil, "a fixture machine's ports are not this machine's")
    }

    @Test func aLargeServerWithABridgeAndTwoNICs() {
        let facts = Self.probe("server-bridge", storage: "/srv/cache")
        #expect(facts.cores == 16)
        #expect(facts.adapters.map(\.name) == ["eno1", "eno2"])
        #expect(facts.adapters.map(\.speedMbps) == [10_000, 10_000])
        #expect(facts.adapters.map(\.state) == ["up", "down"])
        #expect(facts.adapters.first?.sriovTotalVFs == 64)
        #expect(facts.adapters.first?.bridge == "br0")
        #expect(facts.bridges.map(\.name) == ["br0", "docker0"])
        #expect(facts.bridges.first?.bridgeMembers == ["eno1"])
        #expect(facts.storage?.device == "nvme0n1", "the longest mount point wins and a partition maps to its disk")
        #expect(facts.storage?.rotational == false)
        #expect(facts.storage?.freeBytes == 400_000_000_000, "the fixture's own disk space, the same on every machine")
        #expect(facts.storage?.totalBytes == 480_000_000_000)
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        #expect(check.rows.first { $0.id == "nic-count" }?.worst == .warning)
        #expect(check.rows.first { $0.id == "nic-speed" }?.note?.contains("SR-IOV") == true)
    }

    @Test func aContainerWhoseOnlyAdapterIsAVeth() {
        let facts = Self.probe("container-veth")
        #expect(facts.interfaces.map(\.isPhysical) == [false], "a veth has no device behind it")
        #expect(facts.defaultRouteInterfaces == ["host0"], "the IPv6 unreachable route on lo is no default route")
        #expect(facts.adapters.map(\.name) == ["host0"])
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        #expect(check.rows.first { $0.id == "nic-count" }?.worst == .pass)
        #expect(check.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on host0")
        #expect(!check.blockingReasons.contains { $0.contains("adapter") })
    }

    @Test func aContainerWhoseVethIsInABridgeThatCarriesTheDefaultRoute() {
        let facts = Self.probe("container-bridge")
        #expect(facts.defaultRouteInterfaces == ["br0"], "an IPv6 default route counts as well")
        #expect(facts.adapters.map(\.name) == ["host0"], "the bridge stands for its member")
        #expect(facts.bridges.map(\.name) == ["br0"])
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        #expect(check.rows.first { $0.id == "nic-count" }?.worst == .pass)
        #expect(check.rows.first { $0.id == "nic-speed" }?.measured == "10 Gbps on host0")
    }

    @Test func aMachineWithAnHDD() {
        let facts = Self.probe("hdd", storage: "/srv/cache/objects")
        #expect(facts.storage?.device == "sdb")
        #expect(facts.storage?.rotational == true)
        #expect(facts.os.id == "rocky")
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        #expect(check.rows.first { $0.id == "disk-type" }?.measured == "HDD")
        #expect(check.rows.first { $0.id == "disk-type" }?.worst == .warning)
    }

    @Test func missingAndBrokenFilesReadAsUnknown() {
        let facts = Self.probe("broken")
        #expect(facts.cores == nil)
        #expect(facts.memoryBytes == nil)
        #expect(facts.os == .init())
        #expect(facts.adapters.map(\.name) == ["eth0"])
        #expect(facts.adapters.first?.speedMbps == nil)
        #expect(facts.storage?.rotational == nil)
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        for row in ["cores", "memory", "disk-type", "nic-speed", "os"] {
            #expect(check.rows.first { $0.id == row }?.measured == "unknown", "\(row)")
        }
        #expect(!check.isBlocked)
    }

    @Test func aRootThatDoesNotExistIsAllUnknown() {
        let facts = SystemHostProbe(root: "/nonexistent/machine").facts(storagePath: "/srv", listen: nil)
        #expect(facts.cores == nil)
        #expect(facts.interfaces.isEmpty)
        #expect(facts.os == .init())
    }

    @Test func aMachineBelowTheFloorIsBlocked() {
        let check = HostCheck(facts: Self.probe("too-small"), sizing: TestSizing.table)
        #expect(check.isBlocked)
        #expect(
            Set(check.rows.filter { $0.worst == .blocking }.map(\.id)) == ["cores", "memory", "nic-count", "os"]
        )
    }

    @Test func thisMachine() throws {
        let facts = SystemHostProbe().facts(storagePath: NSTemporaryDirectory(), listen: "127.0.0.1:1")
        let cores = try #require(facts.cores)
        #expect(cores == ProcessInfo.processInfo.activeProcessorCount)
        let memory = try #require(facts.memoryBytes)
        #expect(abs(Double(memory) - Double(ProcessInfo.processInfo.physicalMemory)) < 0.05 * Double(memory))
        let free = try #require(facts.storage?.freeBytes)
        #expect(free > 0)
        #expect(facts.os.kernel != nil)
        #expect(facts.listenPortFree != nil || getuid() != 0)
    }

    @Test func aBusyPortIsSeen() throws {
        let (listener, port) = try #require(boundLoopbackSocket(listening: true))
        defer { close(listener) }
        let facts = SystemHostProbe().facts(storagePath: "/", listen: "127.0.0.1:\(port)")
        #expect(facts.listenPortFree == false)
        let check = HostCheck(facts: facts, sizing: TestSizing.table)
        #expect(check.isBlocked)
    }
}

enum TestSizing {
    static let table: SizingTable = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        do {
            let text = try String(contentsOf: root.appendingPathComponent("Resources/sizing.yaml"), encoding: .utf8)
            return try SizingTable(yaml: text)
        } catch {
            fatalError("Resources/sizing.yaml does not load: \(error)")
        }
    }()
}
