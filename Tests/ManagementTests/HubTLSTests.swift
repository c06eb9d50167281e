import Foundation
import Logging
import NIOCore
import Testing

@testable import Management

/// The hub service over TLS: nodes pin its certificate's fingerprint (or trust a CA file), a wrong fingerprint is
/// refused before anything is sent, and plain HTTP never carries a key or token across a network.
@Suite
struct HubTLSTests {
    /// Requests that should succeed get a minute (the hub tests all use it): the whole suite runs in parallel on two
    /// cores, and a request that waits for SQLite behind a hundred engines fsyncing their blocks can take over 10 s.
    static let patient: TimeAmount = .seconds(60)

    /// A hub service with TLS on 127.0.0.1, a hub `west` with node `A`; the body gets the URL, the identity, the node's
    /// one-time key and the registry's path.
    static func withTLSService(_ body: (String, HubIdentity, String, String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hub-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let identity = try HubIdentity.loadOrCreate(directory: folder + "/hub-tls", names: ["localhost", "127.0.0.1"])
        let registry = try Registry(path: folder + "/registry.sqlite")
        try registry.createHub("west")
        let key = try registry.createNode("A", hub: "west")
        let service = HubService(registry: registry, adminToken: "admin-secret", logger: Logger(label: "test"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await service.run(host: "127.0.0.1", port: 0, tls: identity) { continuation.yield($0) }
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body("https://127.0.0.1:\(port)", identity, key, folder + "/registry.sqlite")
            group.cancelAll()
        }
    }

    @Test func theIdentityIsMadeOnceWithAPrivateKeyAndReadBack() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hub-id-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try HubIdentity.loadOrCreate(directory: folder, names: ["hub.example.org", "198.51.100.10"])
        let again = try HubIdentity.loadOrCreate(directory: folder, names: ["other"])
        #expect(first.fingerprint == again.fingerprint)
        #expect(first.fingerprint.wholeMatch(of: /SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}/) != nil)
        let mode = try FileManager.default.attributesOfItem(atPath: folder + "/key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Typed as a person copies it: any case, with or without colons and prefix.
        let bare = String(first.fingerprint.dropFirst(7)).replacingOccurrences(of: ":", with: "").lowercased()
        #expect(HubIdentity.normalised(bare) == first.fingerprint)
        #expect(HubIdentity.normalised("SHA256:12:34") == nil)
    }

    @Test func aNodeEnrolsAndReportsOverTLSWithThePinnedFingerprint() async throws {
        try await Self.withTLSService { url, identity, key, path in
            let trust = HubTrust.fingerprint(identity.fingerprint)
            let token = try await HubClient(baseURL: url, timeout: Self.patient, trust: trust).enrol(
                node: "A",
                hub: "west",
                key: key
            )
            // One client, as the engine's reporter keeps: the pin is checked once, later reports use it.
            let reporter = HubClient(baseURL: url, token: token, timeout: Self.patient, trust: trust)
            try await reporter.report(RegistryTests.report("A"))
            try await reporter.report(RegistryTests.report("A"))
            #expect(try Registry(path: path).nodes(hub: "west").first?.lastReport?.node == "A")
            // The operator's calls too, and a CA file naming the address (the certificate's own, as its CA).
            let hubs = try await HubClient(
                baseURL: url,
                token: "admin-secret",
                timeout: Self.patient,
                trust: .authority(identity.certificatePath)
            ).hubs()
            #expect(hubs.map(\.name) == ["west"])
        }
    }

    @Test func aWrongFingerprintIsRefusedWithAClearErrorAndNothingIsSent() async throws {
        try await Self.withTLSService { url, identity, key, path in
            let other = try HubIdentity.loadOrCreate(
                directory: FileManager.default.temporaryDirectory.appendingPathComponent("other-\(UUID().uuidString)")
                    .path,
                names: ["elsewhere"]
            )
            defer {
                try? FileManager.default.removeItem(
                    atPath: (other.certificatePath as NSString).deletingLastPathComponent
                )
            }
            do {
                _ = try await HubClient(baseURL: url, trust: .fingerprint(other.fingerprint)).enrol(
                    node: "A",
                    hub: "west",
                    key: key
                )
                Issue.record("enrolled with a wrong fingerprint")
            } catch {
                let text = "\(error)"
                #expect(text.contains("nothing was sent"))
                #expect(text.contains(identity.fingerprint), "the error names the fingerprint seen: \(text)")
            }
            // The one-time key was never sent: it still works, once.
            #expect(try Registry(path: path).nodes(hub: "west").first?.enrolled == false)
            _ = try await HubClient(baseURL: url, timeout: Self.patient, trust: .fingerprint(identity.fingerprint))
                .enrol(
                    node: "A",
                    hub: "west",
                    key: key
                )
            // Without a pin or a CA, a self-signed hub is not trusted at all.
            await #expect(throws: HubClient.Failure.self) {
                _ = try await HubClient(baseURL: url, token: "admin-secret", timeout: .seconds(1)).hubs()
            }
        }
    }

    @Test(arguments: ["http://198.51.100.7:7000", "http://hub.example.org:7000", "ftp://127.0.0.1:7000"])
    func secretsNeverGoInTheClearAcrossANetwork(url: String) async throws {
        do {
            _ = try await HubClient(baseURL: url, timeout: .milliseconds(200)).enrol(node: "A", hub: "west", key: "k")
            Issue.record("\(url) was accepted")
        } catch {
            guard case .untrusted(let reason) = error else {
                Issue.record("\(url): \(error), expected a refusal before connecting")
                return
            }
            #expect(reason.contains(url) || reason.contains("scheme"), "\(reason)")
        }
    }

    @Test func plainHTTPOnLoopbackStillWorks() throws {
        #expect(throws: Never.self) { try HubClient.endpoint("http://127.0.0.1:7000") }
        #expect(throws: Never.self) { try HubClient.endpoint("http://localhost:7000") }
        #expect(throws: Never.self) { try HubClient.endpoint("http://[::1]:7000") }
    }
}
