import CacheNodeTestSupport
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import Management

/// The hub service on loopback, with nodes enrolling and reporting over HTTP.
struct HubServiceTests {
    /// A client of the service under test with the hub tests' patient timeout.
    static func client(_ url: String, token: String? = nil) -> HubClient {
        HubClient(baseURL: url, token: token, timeout: HubTLSTests.patient)
    }

    static func withService(_ body: (String, String, String) async throws -> Void) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let registry = try Registry(path: path)
        let service = HubService(registry: registry, adminToken: "admin-secret", logger: Logger(label: "test"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await service.run(host: "127.0.0.1", port: 0) { continuation.yield($0) }
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body("http://127.0.0.1:\(port)", "admin-secret", path)
            group.cancelAll()
        }
    }

    /// Connections that arrive while the service stops are closed, not dropped: NIO's async server can drop one
    /// accepted as its listener closes, and a dropped connection stopped the whole process (swift-nio issue 2813).
    @Test func connectionsArrivingAsTheServiceStopsAreClosedAndTheProcessLivesOn() async throws {
        var descriptors: [Int32] = []
        defer { descriptors.forEach { close($0) } }
        for _ in 0..<20 {
            try await Self.withService { url, _, _ in
                let port = try #require(URL(string: url)?.port)
                for _ in 0..<20 {
                    let fd = try TestHTTPClient.connect(port: port)
                    try TestHTTPClient.send(fd, Array("GET /health HTTP/1.1\r\nHost: hub\r\n\r\n".utf8))
                    descriptors.append(fd)
                }
            }
        }
        // Still here: the service stopped twenty times with connections on their way in.
        try await Self.withService { url, _, _ in
            let port = try #require(URL(string: url)?.port)
            let answer = try await TestHTTPClient.get(port: port, "/health")
            #expect(answer.status == 200)
        }
    }

    @Test func twoNodesEnrolAndReportOneGoesSilent() async throws {
        try await Self.withService { url, admin, path in
            let operator_ = Self.client(url, token: admin)
            _ = try await operator_.createHub("contoso-west")
            let keyA = try await operator_.createNode("Seattle-1", hub: "contoso-west")
            let keyB = try await operator_.createNode("Seattle-2", hub: "contoso-west")
            let tokenA = try await Self.client(url).enrol(node: "Seattle-1", hub: "contoso-west", key: keyA)
            let tokenB = try await Self.client(url).enrol(node: "Seattle-2", hub: "contoso-west", key: keyB)
            try await Self.client(url, token: tokenA).report(RegistryTests.report("Seattle-1", interval: 1))
            try await Self.client(url, token: tokenB).report(RegistryTests.report("Seattle-2", interval: 1))

            let fleet = try await operator_.nodes(hub: "contoso-west")
            #expect(fleet.map(\.name) == ["Seattle-1", "Seattle-2"])
            #expect(fleet.allSatisfy { $0.lastReport?.hitRatio == 0.9 })
            // Three intervals (3 s) later only the node that kept reporting is online.
            let later = Date().addingTimeInterval(4)
            let registry = try Registry(path: path)
            try registry.record(RegistryTests.report("Seattle-1", interval: 1), token: tokenA, now: later)
            #expect(try registry.nodes(hub: "contoso-west").map { $0.state(now: later) } == [.serving, .offline])
        }
    }

    @Test func badTokensAreRefusedWith401AndNothingIsRecorded() async throws {
        try await Self.withService { url, admin, path in
            let operator_ = Self.client(url, token: admin)
            _ = try await operator_.createHub("west")
            let key = try await operator_.createNode("A", hub: "west")

            await #expect(throws: HubClient.Failure.refused(status: 401, message: "missing or invalid token")) {
                try await Self.client(url, token: "wrong").hubs()
            }
            await #expect(throws: HubClient.Failure.refused(status: 401, message: "missing or invalid token")) {
                try await Self.client(url).createHub("east")
            }
            await #expect(throws: HubClient.Failure.refused(status: 401, message: "missing or invalid token")) {
                try await Self.client(url, token: "forged").report(RegistryTests.report("A"))
            }
            await #expect(throws: HubClient.Failure.self) {
                try await Self.client(url).enrol(node: "A", hub: "west", key: "guess")
            }
            let registry = try Registry(path: path)
            #expect(try registry.hubs().map(\.name) == ["west"])
            #expect(try registry.nodes().allSatisfy { !$0.enrolled && $0.lastReport == nil })
            // The real key still works after the bad attempts.
            _ = try await Self.client(url).enrol(node: "A", hub: "west", key: key)
        }
    }

    @Test func rulesAreEnforcedOverHTTP() async throws {
        try await Self.withService { url, admin, _ in
            let operator_ = Self.client(url, token: admin)
            await #expect(
                throws: HubClient.Failure.refused(
                    status: 400,
                    message:
                        "hub name: 'microsoft-hub' contains \"microsoft\" (1 to 63 letters, digits and hyphens, not starting or ending with a hyphen, never containing \"microsoft\")"
                )
            ) {
                try await operator_.createHub("microsoft-hub")
            }
            _ = try await operator_.createHub("west")
            _ = try await operator_.createNode("A", hub: "west")
            await #expect(
                throws: HubClient.Failure.refused(
                    status: 409,
                    message: "hub west already has a node named a; node names are unique in their hub"
                )
            ) {
                try await operator_.createNode("a", hub: "west")
            }
            await #expect(
                throws: HubClient.Failure.refused(
                    status: 404,
                    message: "no hub named east (cachenode hub list shows them)"
                )
            ) {
                try await operator_.nodes(hub: "east")
            }
        }
    }

    @Test func routingWithoutASocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let service = HubService(registry: try Registry(path: path), adminToken: "t", logger: Logger(label: "test"))
        let health = service.handle(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/health"), body: Data())
        #expect(health.status == .ok)
        let garbage = service.handle(
            HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/enrol"),
            body: Data("not json".utf8)
        )
        #expect(garbage.status == .badRequest)
        let unknown = service.handle(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/nothing"), body: Data())
        #expect(unknown.status == .notFound)
    }
}
