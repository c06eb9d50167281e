import CacheNodeCore
import Foundation
import Testing

struct IPAddressTests {
    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ])
    func parsesAndPrints(_ text: String, _ printed: String) {
        #expect(IPAddress(text)?.description == printed)
    }

    @Test(arguments: [
        "010.0.0.1", "10.1", "2130706433", "0x7f.0.0.1", "10.0.0.1.", "1.2.3.4.5", "256.0.0.1", "", "::1::", "1.2.3.-4",
        "١٠.0.0.1",
    ])
    func refusesAmbiguousForms(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        ("127.0.0.1", IPAddress.Scope.loopback),
        ("127.255.0.9", .loopback),
        ("10.1.2.3", .private),
        ("172.31.255.1", .private),
        ("172.32.0.1", .global),
        ("192.168.1.1", .private),
        ("169.254.169.254", .cloudMetadata),
        ("169.254.1.1", .linkLocal),
        ("100.64.0.1", .sharedAddressSpace),
        ("0.0.0.0", .unspecified),
        ("224.0.0.1", .multicast),
        ("13.107.4.50", .global),
        ("::1", .loopback),
        ("::", .unspecified),
        ("fe80::1", .linkLocal),
        ("fd12::1", .private),
        ("::ffff:10.0.0.1", .private),
        ("::ffff:127.0.0.1", .loopback),
        ("2600:1417::1", .global),
    ])
    func classifiesScopes(_ text: String, _ scope: IPAddress.Scope) {
        #expect(IPAddress(text)?.scope == scope)
    }
}

struct OriginAllowlistTests {
    static let allowlist: OriginAllowlist = {
        do {
            return try OriginAllowlist(text: try TestResources.text("Resources/origins.txt"), extra: ["127.0.0.1"])
        } catch {
            fatalError("Resources/origins.txt does not load: \(error)")
        }
    }()

    @Test(arguments: [
        ("au.download.windowsupdate.com", true),
        ("AU.Download.WindowsUpdate.com.", true),
        ("download.windowsupdate.com", true),
        ("7.tlu.dl.delivery.mp.microsoft.com", true),
        ("officecdn.microsoft.com", true),
        ("swda01.manage.microsoft.com", true),
        ("manage.microsoft.com", false),
        ("evil-windowsupdate.com", false),
        ("windowsupdate.com", false),
        ("download.windowsupdate.com.evil.org", false),
        ("xdownload.windowsupdate.com", false),
        ("127.0.0.1", true),
        ("127.0.0.2", false),
        ("10.0.0.1", false),
        ("", false),
    ])
    func matchesTheWildcardRule(_ host: String, _ allowed: Bool) {
        #expect(Self.allowlist.allows(host) == allowed)
    }

    @Test func refusesAFileWithLinesThatAreNotPatterns() {
        #expect(throws: OriginAllowlistError.self) {
            try OriginAllowlist(text: "good.example.org\nnot a host\n*.fine.org\n10.0.0.1\n")
        }
        do {
            _ = try OriginAllowlist(text: "good.example.org\nnot a host\n")
        } catch {
            #expect(error.lines == ["line 2: 'not a host' is not a host name, wildcard or IP address"])
        }
    }

    static let referencePath = TestResources.root.deletingLastPathComponent()
        .appendingPathComponent("shared/reference/content-hosts.txt").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: referencePath)))
    func theShippedListHasEveryReferenceHost() throws {
        let reference = try String(contentsOfFile: Self.referencePath, encoding: .utf8)
        let hosts = reference.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        for host in hosts {
            let concrete = host.hasPrefix("*.") ? "a" + host.dropFirst() : Substring(host)
            #expect(Self.allowlist.allows(String(concrete)), "\(host)")
        }
    }
}

/// When a network change can cut the operator off, setup keeps it only once confirmed.
struct OperatorLinkTests {
    static let facts = HostFacts(
        interfaces: [
            .init(name: "eno1", isPhysical: true, addresses: ["198.51.100.40/24"]),
            .init(name: "eno2", isPhysical: true, addresses: ["203.0.113.7/24"]),
            .init(name: "br9", isBridge: true, bridgeMembers: ["eno3"], addresses: ["198.51.100.90/25"]),
            .init(name: "eno3", isPhysical: true, bridge: "br9"),
        ],
        defaultRouteInterfaces: ["eno2"]
    )

    static func configuration(create adapter: String?, switch name: String) -> NodeConfiguration {
        var configuration = ValidationTests.base()
        configuration.network.switch =
            adapter.map { .init(mode: .create, name: name, adapter: $0) } ?? .init(mode: .existing, name: name)
        return configuration
    }

    @Test func sshConnectionGivesTheServerAddress() {
        #expect(OperatorLink.sshServerAddress("203.0.113.9 50514 198.51.100.40 22") == IPAddress("198.51.100.40"))
        #expect(OperatorLink.sshServerAddress("fe80::1 50514 fe80::2%eth0 22") == IPAddress("fe80::2"))
        #expect(
            OperatorLink.sshServerAddress("::ffff:203.0.113.9 1 ::ffff:198.51.100.40 22") == IPAddress("198.51.100.40")
        )
        #expect(OperatorLink.sshServerAddress(nil) == nil)
        #expect(OperatorLink.sshServerAddress("garbage") == nil)
    }

    @Test(
        arguments: [
            // A new switch over the adapter the SSH session came in on.
            (
                "eno1", "br0", "198.51.100.40",
                "your SSH connection to 198.51.100.40 runs over eno1, which switch br0 takes over"
            ),
            // A new switch over another adapter, SSH on eno1 and the default route on eno2: nothing to fear.
            ("eno3x", "br0", "198.51.100.40", nil),
            // Without SSH, the default route decides.
            ("eno2", "br0", nil, "the default route runs over eno2, which switch br0 takes over"),
            // An existing switch whose address is rewritten, with the session on it.
            (
                nil, "br9", "198.51.100.90",
                "your SSH connection to 198.51.100.90 runs over br9, whose address this install sets"
            ),
            (nil, "br9", nil, nil),
        ] as [(String?, String, String?, String?)]
    )
    func risk(adapter: String?, switch name: String, ssh: String?, expected: String?) {
        let configuration = Self.configuration(create: adapter, switch: name)
        #expect(OperatorLink.risk(configuration, facts: Self.facts, ssh: ssh.flatMap(IPAddress.init)) == expected)
    }
}
