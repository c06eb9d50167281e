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

/// A request over TLS is never fetched over plain HTTP; an https:// entry with a port serves that port only.
struct OriginPolicySchemeTests {
    static let policy = OriginPolicy(
        allowlist: OriginAllowlist(
            patterns: ["*.download.windowsupdate.com", "https://*.manage.microsoft.com"],
            extra: ["https://127.0.0.1:8443", "https://[::1]"]
        ),
        listen: ListenAddress(host: "0.0.0.0", port: 8080),
        secureListen: ListenAddress(host: "0.0.0.0", port: 443)
    )

    static func decision(_ origin: String, overTLS: Bool, resolved: [String]? = nil) throws -> OriginPolicy.Decision {
        let request = try CacheRequest.parse(
            target: "/f?cacheHostOrigin=\(origin)",
            hostHeader: nil,
            arrivedOverTLS: overTLS
        )
        let first = policy.check(request)
        guard first == .allow, let resolved else { return first }
        return policy.check(request, resolved: resolved.compactMap { IPAddress($0) })
    }

    @Test(
        arguments: [
            ("swda01.manage.microsoft.com", true, nil, ""),
            ("swda01.manage.microsoft.com", false, nil, ""),
            ("au.download.windowsupdate.com", false, nil, ""),
            ("au.download.windowsupdate.com", true, nil, "list it as https://au.download.windowsupdate.com"),
            ("127.0.0.1:8443", true, nil, ""),
            ("127.0.0.1", false, nil, ""),
            ("127.0.0.1:9000", false, nil, "is listed as https://127.0.0.1:8443 only"),
            ("[::1]:8443", true, nil, ""),
            // A fetch over TLS that would reach the engine's own TLS listener is a loop; the plain listener's port
            // is no loop for it.
            ("[::1]:443", true, nil, "is this cache itself"),
            ("[::1]:8080", true, nil, ""),
            ("swda01.manage.microsoft.com:8443", true, ["127.0.0.1"], "resolves to a loopback address"),
            ("swda01.manage.microsoft.com", true, ["127.0.0.1"], "resolves to this cache itself"),
        ] as [(String, Bool, [String]?, String)]
    )
    func decides(origin: String, overTLS: Bool, resolved: [String]?, reason: String) throws {
        let decision = try Self.decision(origin, overTLS: overTLS, resolved: resolved)
        if reason.isEmpty {
            #expect(decision == .allow, "\(decision)")
        } else {
            guard case .refuse(let text) = decision else {
                Issue.record("\(origin) was allowed")
                return
            }
            #expect(text.contains(reason), "\(text)")
        }
    }
}
