import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Synchronization
import Testing

@testable import CacheEngine

/// Resolves `origin.test` to the loopback origin, or (while broken) fails as a DNS server that does not know it.
final class BreakableResolver: HostResolver {
    let broken = Mutex(true)

    func resolve(_ host: String, port: Int) async -> Result<[IPAddress], OriginFailure> {
        if let literal = IPAddress(host) { return .success([literal]) }
        if broken.withLock({ $0 }) || host != "origin.test" {
            return .failure(.unresolvable("cannot resolve \(host) (Name or service not known)"))
        }
        return .success([IPAddress("127.0.0.1")!])
    }
}

/// A clock a test moves by hand.
final class ManualClock: Sendable {
    let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    func advance(by seconds: TimeInterval) { now.withLock { $0 += seconds } }
}

/// The node's health tells the truth: an origin that does not resolve makes it failing everywhere it is shown.
struct HealthTests {
    static func json(_ data: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
    }

    @Test func anOriginThatDoesNotResolveMakesTheNodeFailingAndItRecovers() async throws {
        let resolver = BreakableResolver()
        let clock = ManualClock()
        try await EngineHarness.with(
            configure: { $0.engine.extraOrigins = ["origin.test"] },
            resolver: resolver,
            healthClock: { clock.now.withLock { $0 } }
        ) { harness in
            let changes = Mutex<[HealthState]>([])
            harness.engine.setHealthObserver { health in changes.withLock { $0.append(health.state) } }
            let object = harness.origin.add("/h.bin", length: 200_000, seed: 7)
            let target = "/h.bin?cacheHostOrigin=origin.test:\(harness.origin.port)"
            let fresh = try await TestHTTPClient.get(port: harness.adminPort, "/health")
            let freshState = try Self.json(fresh.body)["state"] as? String
            #expect(fresh.status == 200 && freshState == "serving")

            for _ in 0..<3 {
                #expect(try await TestHTTPClient.get(port: harness.port, target).status == 502)
            }
            let failing = try await TestHTTPClient.get(port: harness.adminPort, "/health")
            #expect(failing.status == 503)
            let answer = try Self.json(failing.body)
            #expect(answer["state"] as? String == "failing")
            #expect(answer["since"] is String)
            let reasons = try #require(answer["reasons"] as? [[String: Any]])
            #expect(reasons.first?["kind"] as? String == "origin_failing")
            #expect((reasons.first?["detail"] as? String)?.contains("cannot resolve origin.test") == true)
            // One failure is a degraded node; three without a success, a failing one.
            #expect(changes.withLock { $0 } == [.degraded, .failing])

            let metrics = String(
                decoding: try await TestHTTPClient.get(port: harness.adminPort, "/metrics").body,
                as: UTF8.self
            )
            #expect(metrics.contains("cachenode_origin_errors_total{reason=\"dns\"} 3"))
            #expect(metrics.contains("cachenode_health_state 2"))
            let page = String(decoding: try await TestHTTPClient.get(port: harness.adminPort, "/").body, as: UTF8.self)
            #expect(page.contains("<span id=\"state\" class=\"bad\""))
            #expect(page.contains("no origin fetch succeeded"))
            let status = try EngineStatus.decoder.decode(
                EngineStatus.self,
                from: Data(try await TestHTTPClient.get(port: harness.adminPort, "/status").body)
            )
            #expect(status.health.state == .failing && status.originErrors == 3)
            #expect(status.issues.last?.kind == "origin_failing" && status.issues.last?.isOpen == true)
            let saved = try Data(contentsOf: URL(fileURLWithPath: harness.directory.state + "/issues.json"))
            #expect(try EngineStatus.decoder.decode([NodeIssue].self, from: saved).last?.kind == "origin_failing")

            // The name resolves again: served, and once the failures leave the window the node is serving.
            resolver.broken.withLock { $0 = false }
            let served = try await TestHTTPClient.get(port: harness.port, target)
            #expect(served.status == 200 && served.body == object)
            // Still within the window the failures show; past it, only the success counts.
            var state =
                try Self.json(try await TestHTTPClient.get(port: harness.adminPort, "/health").body)["state"] as? String
            #expect(state == "degraded")
            clock.advance(by: 320)
            state =
                try Self.json(try await TestHTTPClient.get(port: harness.adminPort, "/health").body)["state"] as? String
            #expect(state == "serving")
            #expect(changes.withLock { $0 }.last == .serving)
            let issues = await harness.engine.status().issues
            #expect(issues.contains { $0.kind == "origin_failing" } && issues.allSatisfy { $0.end != nil })
        }
    }
}
