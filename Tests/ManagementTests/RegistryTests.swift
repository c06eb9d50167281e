import CacheNodeTestSupport
import CacheNodeCore
import Foundation
import Testing

@testable import Management

struct RegistryTests {
    static func temporaryRegistry() throws -> (Registry, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).sqlite")
            .path
        return (try Registry(path: path), path)
    }

    static func report(_ node: String, interval: Int = 60, fromCache: Int64 = 900, fromOrigin: Int64 = 100)
        -> NodeReport
    {
        NodeReport(
            node: node,
            version: "0.1.0",
            uptimeSeconds: 30,
            health: NodeHealth(state: .serving, reasons: [], since: Date(timeIntervalSince1970: 0)),
            bytesFromCache: fromCache,
            bytesFromOrigin: fromOrigin,
            hitRatio: 0.9,
            diskUsedBytes: ["/srv/cache": 123],
            peakEgressBitsPerSecond: 1e9,
            intervalSeconds: interval
        )
    }

    @Test(
        arguments: [
            ("contoso-west", nil),
            ("microsoft", "hub name: 'microsoft' contains \"microsoft\""),
            ("Contoso MicroSoft", "hub name: 'Contoso MicroSoft' contains a space"),
            ("MyMICROSOFThub", "hub name: 'MyMICROSOFThub' contains \"microsoft\""),
        ] as [(String, String?)]
    )
    func hubNamesFollowTheRule(_ name: String, _ problem: String?) throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try registry.createHub(name)
            #expect(problem == nil)
        } catch {
            #expect(error.description.hasPrefix(problem ?? "no error expected"))
        }
    }

    @Test func nodeNamesAreUniqueInTheirHubIgnoringCase() throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try registry.createHub("west")
        try registry.createHub("east")
        _ = try registry.createNode("Seattle-1", hub: "west")
        #expect(throws: RegistryError.nodeExists(node: "SEATTLE-1", hub: "west")) {
            try registry.createNode("SEATTLE-1", hub: "west")
        }
        _ = try registry.createNode("Seattle-1", hub: "east")
        #expect(throws: RegistryError.hubExists("WEST")) { try registry.createHub("WEST") }
        #expect(throws: RegistryError.noSuchHub("north")) { try registry.createNode("A", hub: "north") }
        #expect(throws: RegistryError.self) { try registry.createNode("bad name", hub: "west") }
        #expect(try registry.nodes().map { "\($0.hub)/\($0.name)" } == ["east/Seattle-1", "west/Seattle-1"])
    }

    @Test func nodeNamesCannotChangeEvenInTheDatabase() throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try registry.createHub("west")
        _ = try registry.createNode("Seattle-1", hub: "west")
        let sqlite = try ChildProcess.run(["/usr/bin/sqlite3", path, "UPDATE node SET name = 'Renamed';"])
        #expect(sqlite.status != 0)
        #expect(sqlite.stderr.contains("node names cannot change"))
        #expect(try registry.nodes().map(\.name) == ["Seattle-1"])
    }

    @Test func deletingIsFinalAndTakesTheReports() throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try registry.createHub("west")
        let key = try registry.createNode("Seattle-1", hub: "west")
        let token = try registry.enrol(node: "Seattle-1", hub: "west", key: key)
        try registry.record(Self.report("Seattle-1"), token: token)
        try registry.deleteNode("Seattle-1", hub: "west")
        #expect(try registry.nodes().isEmpty)
        #expect(throws: RegistryError.badToken) { try registry.record(Self.report("Seattle-1"), token: token) }
        #expect(throws: RegistryError.noSuchNode(node: "Seattle-1", hub: "west")) {
            try registry.deleteNode("Seattle-1", hub: "west")
        }
        // The name is free again, as a new node with a new key.
        _ = try registry.createNode("Seattle-1", hub: "west")
    }

    @Test func enrolmentKeysWorkOnceAndTokensOnlyForTheirNode() throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try registry.createHub("west")
        let key = try registry.createNode("A", hub: "west")
        _ = try registry.createNode("B", hub: "west")
        #expect(throws: RegistryError.badKey) { try registry.enrol(node: "B", hub: "west", key: key) }
        let token = try registry.enrol(node: "A", hub: "west", key: key)
        #expect(throws: RegistryError.badKey) { try registry.enrol(node: "A", hub: "west", key: key) }
        #expect(throws: RegistryError.badToken) { try registry.record(Self.report("B"), token: token) }
        #expect(throws: RegistryError.badToken) { try registry.record(Self.report("A"), token: "forged") }
        #expect(try registry.nodes(hub: "west").allSatisfy { $0.lastReport == nil })
    }

    @Test func aNodeSilentForThreeIntervalsIsOfflineAndTheFleetSurvivesARestart() throws {
        let (registry, path) = try Self.temporaryRegistry()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try registry.createHub("west")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let keyA = try registry.createNode("A", hub: "west")
        let keyB = try registry.createNode("B", hub: "west")
        let tokenA = try registry.enrol(node: "A", hub: "west", key: keyA)
        let tokenB = try registry.enrol(node: "B", hub: "west", key: keyB)
        try registry.record(Self.report("A", interval: 60), token: tokenA, now: start)
        try registry.record(Self.report("B", interval: 60), token: tokenB, now: start)
        try registry.record(
            Self.report("A", interval: 60, fromCache: 5000),
            token: tokenA,
            now: start.addingTimeInterval(170)
        )

        let reopened = try Registry(path: path)
        let fleet = try reopened.nodes(hub: "west")
        let now = start.addingTimeInterval(200)
        #expect(fleet.map { $0.state(now: now) } == [.serving, .offline])
        #expect(fleet.first?.lastReport?.bytesFromCache == 5000)
        #expect(fleet.first?.state(now: start.addingTimeInterval(170 + 180)) == .serving)
        #expect(fleet.first?.state(now: start.addingTimeInterval(170 + 181)) == .offline)
    }
}
