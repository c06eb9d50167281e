import Foundation
import Testing

@Suite(.serialized)
struct ValidateCommandTests {
    @Test(arguments: ["branch-static.yaml", "large-create-switch.yaml", "trial.yaml"])
    func theExampleAnswerFilesAreValid(_ name: String) throws {
        let result = try CLIRunner.run(["validate", "Resources/answers/\(name)"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("Resources/answers/\(name): valid (node "))
        #expect(result.stderr == "")
    }

    @Test func everyProblemIsPrintedWithFileLineAndKeyPath() throws {
        let result = try CLIRunner.run(["validate", "Tests/CLITests/Fixtures/bad.yaml"])
        #expect(result.status == 2)
        #expect(result.stdout == "")
        let f = "Tests/CLITests/Fixtures/bad.yaml"
        #expect(
            result.stderr == """
                \(f):1: network: missing (a section with switch, address)
                \(f):1: version: version 2 is not supported (this release reads version 1)
                \(f):3: node.name: 'Seattle 1' contains a space (1 to 63 letters, digits and hyphens, not starting or ending with a hyphen)
                \(f):4: netwrk: unknown key (did you mean 'network'?)
                \(f):7: storage.state: 'var/lib' is not an absolute path (an absolute path such as /var/lib/cachenode)
                \(f):10: storage.drives[0].size_gb: 20 GB is below the minimum of 50 GB per drive (at least 50)
                \(f):11: storage.drives[1].path: /srv/cache/ is already drive 0 (each drive once)
                \(f):12: storage.drives[1].size_gb: expected a number, found 'many'
                \(f):14: resources.memory_gb: expected a whole number, found '8'
                \(f):15: resources.cores: must be a positive whole number (as 8)
                \(f):18: hub.name: 'MicroSoft-hub' contains "microsoft" (1 to 63 letters, digits and hyphens, not starting or ending with a hyphen, never containing "microsoft")
                \(f):21: engine.admin: 0.0.0.0:80 clashes with engine.listen 0.0.0.0:80 (a different port, as 127.0.0.1:5000)
                \(f):22: engine.extra_origins[1]: 'bad host' is not a host name, wildcard or IP address (as cdn.example.org, *.example.org, 127.0.0.1 or https://cdn.example.org:8443)

                """
        )
    }

    @Test func hostileFilesExitTwoWithOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, Data, String)] = [
            (
                "empty.yaml", Data(),
                "empty.yaml:1: the answer file is empty (start from an example in Resources/answers/)\n"
            ),
            ("list.yaml", Data("- a\n- b\n".utf8), "list.yaml:1: expected a mapping of keys, found a list\n"),
            (
                "binary.yaml", Data([0x00, 0xFF, 0x13, 0x37, 0x00]),
                "binary.yaml:1: the file holds binary data, not YAML text\n"
            ),
            (
                "garbage.yaml", Data(repeating: 0x61, count: 10_000_000),
                "garbage.yaml:1: the file is 10000000 bytes, too large for an answer file (at most 1048576 bytes)\n"
            ),
            (
                "deep.yaml", Data(("a: " + String(repeating: "[", count: 100_000)).utf8),
                "deep.yaml:1: the YAML is nested too deeply (at most 32 levels)\n"
            ),
        ]
        for (name, data, expected) in cases {
            try data.write(to: directory.appendingPathComponent(name))
            let result = try CLIRunner.run(["validate", name], in: directory)
            #expect(result.status == 2, "\(name)")
            #expect(result.stderr == expected)
        }
        let missing = try CLIRunner.run(["validate", "nothing-here.yaml"], in: directory)
        #expect(missing.status == 2)
        #expect(missing.stderr == "nothing-here.yaml: cannot read: No such file or directory\n")
    }
}

struct PlanCommandTests {
    @Test func theRequirementsLoad() throws {
        let result = try CLIRunner.run([
            "plan", "--devices", "35000", "--payload-gb", "2", "--window-hours", "24", "--nic-gbps", "10",
        ])
        #expect(result.status == 0)
        #expect(
            result.stdout == """
                Load:        35,000 devices x 2 GB within 24 h (70 TB)
                Throughput:  6.48 Gbps sustained (about 6.5 Gbps)
                Profile:     large (Large enterprise)
                Per node:    9 Gbps usable on a 10 Gbps NIC
                Nodes:       1

                """
        )
    }

    @Test func atTheProfilesOwnNICSpeedTwoNodesAreNeeded() throws {
        let result = try CLIRunner.run([
            "plan", "--devices", "35000", "--payload-gb", "2", "--window-hours", "24", "--json",
        ])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["required_gbps"] as? Double == 6.481)
        #expect(json["profile"] as? String == "large")
        #expect(json["nodes"] as? Int == 2)
    }

    @Test func nonsenseAndMissingOptionsExitTwo() throws {
        let zero = try CLIRunner.run(["plan", "--devices", "0", "--payload-gb", "2", "--window-hours", "24"])
        #expect(zero.status == 2)
        #expect(zero.stderr == "--devices must be a positive number, got 0\n")
        let missing = try CLIRunner.run(["plan", "--devices", "10"])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("Error: Missing expected argument '--payload-gb <payload-gb>'"))
        let unknown = try CLIRunner.run(["frobnicate"])
        #expect(unknown.status == 2)
    }
}

struct CheckCommandTests {
    static func fixture(_ name: String) -> String {
        CLIRunner.repository.appendingPathComponent("Tests/InstallerTests/Fixtures/\(name)").path
    }

    @Test func aFixtureMachineAsATable() throws {
        let result = try CLIRunner.run(
            ["check", "--profile", "large", "--host-root", Self.fixture("server-bridge"), "--storage", "/srv/cache"]
        )
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("REQUIREMENT") == true)
        #expect(lines.first?.hasSuffix("LARGE *") == true)
        let row = { (title: String) in lines.first { $0.hasPrefix(title) } ?? "" }
        #expect(
            row("CPU cores").split(separator: " ", omittingEmptySubsequences: true).map(String.init) == [
                "CPU", "cores", "16", "PASS", "(needs", "4)", "PASS", "(needs", "8)",
            ]
        )
        #expect(row("Disk type").contains("SSD"))
        #expect(
            row("Network adapters").split(separator: " ").map(String.init)
                == ["Network", "adapters", "2", "WARNING", "(needs", "1)", "WARNING", "(needs", "1)"]
        )
        #expect(row("NIC speed").contains("10 Gbps"))
        #expect(result.stdout.contains("Network adapters: several NICs per node are not supported; the node uses one"))
    }

    @Test func aMachineBelowTheFloorExitsThree() throws {
        let result = try CLIRunner.run(["check", "--host-root", Self.fixture("too-small"), "--storage", "/"])
        #expect(result.status == 3)
        #expect(
            result.stdout.contains(
                "Result: BLOCKED. This machine cannot run a cache node:\n  - CPU cores: 1 (fewer than the 2 cores any install needs)\n"
            )
        )
    }

    @Test func jsonForScripts() throws {
        let result = try CLIRunner.run([
            "check", "--json", "--profile", "branch", "--host-root", Self.fixture("hdd"), "--storage", "/srv/cache",
        ])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["profile"] as? String == "branch")
        #expect(json["blocked"] as? Bool == false)
        let rows = try #require(json["rows"] as? [[String: Any]])
        let diskType = try #require(rows.first { $0["id"] as? String == "disk-type" })
        #expect(diskType["measured"] as? String == "HDD")
        let verdicts = try #require(diskType["verdicts"] as? [[String: Any]])
        #expect(verdicts.map { $0["status"] as? String } == ["warning", "warning"])
    }

    @Test func badOptionsExitTwo() throws {
        #expect(try CLIRunner.run(["check", "--listen", "nowhere"]).status == 2)
        #expect(try CLIRunner.run(["check", "--storage", "relative/path"]).status == 2)
        #expect(try CLIRunner.run(["check", "--profile", "huge"]).status == 2)
    }

    /// A machine whose only adapter is a veth, as in a container or some VMs: a network namespace made here.
    @Test(.enabled(if: getuid() == 0, "making a network namespace needs root"))
    func aVethThatCarriesTheDefaultRouteIsTheAdapter() throws {
        let namespace = "cncheck\(getpid())"
        let hostEnd = "cnv\(getpid())"
        try CLIRunner.ip("netns", "add", namespace)
        defer { _ = try? CLIRunner.execute("ip", ["netns", "del", namespace]) }
        try CLIRunner.ip("link", "add", hostEnd, "type", "veth", "peer", "name", "host0", "netns", namespace)
        try CLIRunner.ip("link", "set", hostEnd, "up")
        try CLIRunner.ip("-n", namespace, "link", "set", "lo", "up")
        try CLIRunner.ip("-n", namespace, "link", "set", "host0", "up")
        try CLIRunner.ip("-n", namespace, "addr", "add", "198.51.100.50/24", "dev", "host0")
        try CLIRunner.ip("-n", namespace, "route", "add", "default", "via", "198.51.100.1")

        let result = try CLIRunner.execute(
            "ip",
            [
                "netns", "exec", namespace, CLIRunner.binary, "check", "--json", "--storage", NSTemporaryDirectory(),
                "--listen", "198.51.100.50:18080",
            ]
        )
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result.stderr)"
        )
        let rows = try #require(json["rows"] as? [[String: Any]])
        let count = try #require(rows.first { $0["id"] as? String == "nic-count" })
        #expect(count["measured"] as? String == "1")
        #expect((count["verdicts"] as? [[String: Any]])?.map { $0["status"] as? String } == ["pass", "pass"])
        let speed = try #require(rows.first { $0["id"] as? String == "nic-speed" })
        #expect((speed["measured"] as? String)?.hasSuffix("Gbps on host0") == true, "\(speed)")
        #expect(!result.stdout.contains("no network adapter found"))
    }

    @Test func thisMachineGetsAVerdict() throws {
        let result = try CLIRunner.run(["check", "--storage", NSTemporaryDirectory(), "--listen", "127.0.0.1:1"])
        #expect([0, 3].contains(result.status))
        #expect(result.stdout.contains("Result"))
    }
}

/// `cachenode check --network` against hosts in network namespaces made here: a neighbour that has the address, a
/// gateway, and a DNS server (dnsmasq) that knows the Delivery Optimization hosts.
@Suite(.serialized)
struct NetworkCheckCommandTests {
    static let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func answers(ip: String, dns: String) throws -> String {
        try String(
            contentsOf: CLIRunner.repository.appendingPathComponent("Resources/answers/branch-static.yaml"),
            encoding: .utf8
        )
        .replacingOccurrences(of: "ip: 10.0.0.50/24", with: "ip: \(ip)")
        .replacingOccurrences(of: "gateway: 10.0.0.1", with: "gateway: 198.51.100.1")
        .replacingOccurrences(of: "dns: [10.0.0.2, 10.0.0.3]", with: "dns: [\(dns)]")
        .replacingOccurrences(of: "name: br0", with: "name: a0")
    }

    @Test(.enabled(if: getuid() == 0 && dnsmasq != nil, "needs root and dnsmasq to make the test network"))
    func theChecksSeeATakenAddressTheGatewayAndDNS() throws {
        let id = getpid()
        let node = "cnnode\(id)"
        let lan = "cnlan\(id)"
        try CLIRunner.ip("netns", "add", node)
        defer { _ = try? CLIRunner.execute("ip", ["netns", "del", node]) }
        try CLIRunner.ip("netns", "add", lan)
        defer { _ = try? CLIRunner.execute("ip", ["netns", "del", lan]) }
        try CLIRunner.ip("-n", node, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", lan)
        try CLIRunner.ip("-n", node, "link", "set", "a0", "up")
        try CLIRunner.ip("-n", node, "addr", "add", "198.51.100.50/24", "dev", "a0")
        try CLIRunner.ip("-n", node, "route", "add", "default", "via", "198.51.100.1")
        try CLIRunner.ip("-n", lan, "link", "set", "b0", "up")
        try CLIRunner.ip("-n", lan, "addr", "add", "198.51.100.1/24", "dev", "b0")
        try CLIRunner.ip("-n", lan, "addr", "add", "198.51.100.60/24", "dev", "b0")

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("netcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // dnsmasq as a daemon of its own (a Foundation Process that outlives others stalls their waits).
        let pidFile = work.appendingPathComponent("dns.pid").path
        let started = try CLIRunner.execute(
            "ip",
            [
                "netns", "exec", lan, Self.dnsmasq!, "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--listen-address=198.51.100.1", "--bind-interfaces", "--port=53", "--pid-file=" + pidFile,
                "--address=/windowsupdate.com/203.0.113.10", "--address=/microsoft.com/203.0.113.11",
            ]
        )
        try #require(started.status == 0, "dnsmasq: \(started.stderr)")
        // The test runner blocks most signals and its children inherit that mask: SIGKILL is the one that always ends it.
        defer { _ = try? CLIRunner.execute("pkill", ["-KILL", "-f", pidFile]) }

        func check(ip address: String, dns server: String) throws -> [String: [String: Any]] {
            let file = work.appendingPathComponent("answers.yaml").path
            try Self.answers(ip: address, dns: server).write(toFile: file, atomically: true, encoding: .utf8)
            let result = try CLIRunner.execute(
                "ip",
                [
                    "netns", "exec", node, CLIRunner.binary, "check", "--network", "--answers", file, "--json",
                    "--network-timeout", "1",
                    "--storage", NSTemporaryDirectory(),
                ]
            )
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                "\(result.stderr)"
            )
            let rows = try #require(json["network"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as? String ?? "", $0) })
        }

        let taken = try check(ip: "198.51.100.60/24", dns: "198.51.100.1")
        #expect(taken["address"]?["status"] as? String == "warning")
        #expect(
            (taken["address"]?["detail"] as? String)?.contains("answers for 198.51.100.60 on a0: the address is taken")
                == true,
            "\(taken)"
        )
        #expect(taken["gateway"]?["status"] as? String == "pass", "\(taken)")
        #expect(taken["dns"]?["status"] as? String == "pass", "\(taken)")
        #expect(taken["listen-port"]?["status"] as? String == "pass")
        #expect(taken["address"]?["timeout_s"] as? Int == 1)

        let free = try check(ip: "198.51.100.70/24", dns: "198.51.100.2")
        #expect(free["address"]?["status"] as? String == "pass", "\(free)")
        #expect(free["dns"]?["status"] as? String == "warning")
        #expect((free["dns"]?["detail"] as? String)?.contains("gave no answer within 1 s") == true, "\(free)")
    }
}
