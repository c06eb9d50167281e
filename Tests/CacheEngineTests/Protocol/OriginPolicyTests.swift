import CacheProtocol
import CacheNodeCore
import Testing

@testable import CacheEngine

struct OriginPolicyTests {
    static let policy = OriginPolicy(
        allowlist: OriginAllowlist(
            patterns: ["*.download.windowsupdate.com", "dl.delivery.mp.microsoft.com"],
            extra: ["127.0.0.1", "origin.test"]
        ),
        listen: ListenAddress(host: "0.0.0.0", port: 8080)
    )

    static func request(_ origin: String) throws -> CacheRequest {
        try CacheRequest.parse(target: "/f?cacheHostOrigin=\(origin)", hostHeader: nil)
    }

    @Test(
        arguments: [
            ("evil.example.com", "not on the origin allowlist"),
            ("download.windowsupdate.com.evil.com", "not on the origin allowlist"),
            ("10.0.0.1", "is an IP address"),
            ("169.254.169.254", "is an IP address"),
            ("[::1]", "is an IP address"),
            ("2130706433", "non-standard form"),
            ("0177.0.0.1", "non-standard form"),
            ("0x7f.1", "non-standard form"),
            ("127.1", "non-standard form"),
            ("127.0.0.1:8080", "this cache itself"),
            ("127.0.0.1", ""),
        ] as [(String, String)]
    )
    func staticChecks(origin: String, reason: String) throws {
        let decision = Self.policy.check(try Self.request(origin))
        if reason.isEmpty {
            #expect(decision == .allow)
        } else {
            guard case .refuse(let text) = decision else {
                Issue.record("\(origin) was allowed")
                return
            }
            #expect(text.contains(reason))
        }
    }

    @Test(
        arguments: [
            (["127.0.0.1"], "loopback"),
            (["10.1.2.3"], "private"),
            (["169.254.169.254"], "cloud metadata"),
            (["169.254.1.1"], "link-local"),
            (["8.8.8.8", "192.168.1.1"], "private"),
            (["::ffff:127.0.0.1"], "loopback"),
            (["8.8.8.8"], ""),
        ] as [([String], String)]
    )
    func resolvedAddresses(addresses: [String], reason: String) throws {
        let request = try Self.request("au.download.windowsupdate.com")
        #expect(Self.policy.check(request) == .allow)
        let decision = Self.policy.check(request, resolved: addresses.compactMap(IPAddress.init))
        if reason.isEmpty {
            #expect(decision == .allow)
        } else {
            guard case .refuse(let text) = decision else {
                Issue.record("\(addresses) was allowed")
                return
            }
            #expect(text.contains(reason))
        }
    }

    @Test func explicitNameMayResolveToLoopbackButNotToTheCache() throws {
        let request = try Self.request("origin.test:9000")
        #expect(Self.policy.check(request, resolved: [IPAddress("127.0.0.1")!]) == .allow)
        let looping = try Self.request("origin.test:8080")
        guard case .refuse = Self.policy.check(looping, resolved: [IPAddress("127.0.0.1")!]) else {
            Issue.record("a loop to the cache was allowed")
            return
        }
    }
}
