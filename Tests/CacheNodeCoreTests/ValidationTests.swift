import CacheNodeCore
import Testing

struct ValidationTests {
    static func base() -> NodeConfiguration {
        NodeConfiguration(
            node: .init(name: "Seattle-1"),
            network: .init(
                switch: .init(mode: .existing, name: "br0"),
                address: .init(mode: .static, ip: "10.0.0.50/24", gateway: "10.0.0.1", dns: ["10.0.0.2"])
            ),
            storage: .init(drives: [.init(path: "/srv/cache", sizeGB: 200)]),
            resources: .init(memoryGB: 8, cores: 8),
            hub: .init(mode: .create, name: "contoso-west")
        )
    }

    static func problems(_ change: (inout NodeConfiguration) -> Void) -> [String: String] {
        var configuration = base()
        change(&configuration)
        var result: [String: String] = [:]
        for issue in configuration.validate(sizing: TestResources.sizing) {
            result[issue.keyPath] = issue.message
        }
        return result
    }

    @Test func theBaseConfigurationIsValid() {
        #expect(Self.base().validate(sizing: TestResources.sizing) == [])
    }

    @Test(
        arguments: [
            ("Seattle-1", nil),
            ("A", nil),
            ("node42", nil),
            (String(repeating: "a", count: 63), nil),
            ("", "the name is empty"),
            ("Seattle 1", "'Seattle 1' contains a space"),
            ("-edge", "'-edge' starts or ends with a hyphen"),
            ("edge-", "'edge-' starts or ends with a hyphen"),
            ("under_score", "'under_score' contains '_', which is not a letter, digit or hyphen"),
            ("Zürich", "'Zürich' contains 'ü', which is not a letter, digit or hyphen"),
            (String(repeating: "a", count: 64), "'aaaaaaaaaaaaaaaaaaaa…' is 64 characters long"),
        ] as [(String, String?)]
    )
    func nodeNames(_ name: String, _ problem: String?) {
        #expect(Self.problems { $0.node.name = name }["node.name"] == problem)
    }

    @Test(
        arguments: [
            ("contoso-west", nil),
            ("microsoft", "'microsoft' contains \"microsoft\""),
            ("My-MicroSoft-Hub", "'My-MicroSoft-Hub' contains \"microsoft\""),
            ("MICROSOFTcache", "'MICROSOFTcache' contains \"microsoft\""),
            ("micro-soft", nil),
            ("hub one", "'hub one' contains a space"),
        ] as [(String, String?)]
    )
    func hubNames(_ name: String, _ problem: String?) {
        #expect(Self.problems { $0.hub.name = name }["hub.name"] == problem)
    }

    @Test(
        arguments: [
            ("10.0.0.50/24", "10.0.0.1", nil, nil),
            ("10.0.0.50/24", "10.0.1.1", nil, "10.0.1.1 is not in 10.0.0.0/24"),
            ("10.0.0.0/24", "10.0.0.1", "10.0.0.0 is the network address of 10.0.0.0/24", nil),
            ("10.0.0.255/24", "10.0.0.1", "10.0.0.255 is the broadcast address of 10.0.0.0/24", nil),
            ("10.0.0.50", "10.0.0.1", "'10.0.0.50' has no prefix length", nil),
            ("10.0.0.50/33", "10.0.0.1", "'10.0.0.50/33' is not an address with prefix", nil),
            ("10.0.0.256/24", "10.0.0.1", "'10.0.0.256/24' is not an address with prefix", nil),
            ("010.0.0.50/24", "10.0.0.1", "'010.0.0.50/24' is not an address with prefix", nil),
            ("10.0.0.50/31", "10.0.0.51", "prefix /31 leaves no room for a gateway", nil),
            ("10.0.0.50/24", "10.0.0.50", nil, "10.0.0.50 is the node's own address"),
            ("10.0.0.50/24", "10.0.0.255", nil, "10.0.0.255 is not a host address in 10.0.0.0/24"),
            ("10.0.0.50/24", "gateway", nil, "'gateway' is not an IP address"),
            ("172.16.5.9/20", "172.16.0.1", nil, nil),
            ("2001:db8::50/64", "2001:db8::1", nil, nil),
            ("2001:db8::50/64", "fe80::1", nil, nil),
            ("2001:db8::50/64", "2001:db9::1", nil, "2001:db9::1 is not in the subnet of 2001:db8::50/64"),
            ("2001:db8::50/64", "10.0.0.1", nil, "10.0.0.1 is not of the same IP version as 2001:db8::50"),
            ("2001:db8:::50/64", "2001:db8::1", "'2001:db8:::50/64' is not an address with prefix", nil),
        ] as [(String, String, String?, String?)]
    )
    func staticAddresses(_ ip: String, _ gateway: String, _ ipProblem: String?, _ gatewayProblem: String?) {
        let problems = Self.problems {
            $0.network.address.ip = ip
            $0.network.address.gateway = gateway
        }
        #expect(problems["network.address.ip"] == ipProblem)
        #expect(problems["network.address.gateway"] == gatewayProblem)
    }

    @Test func dnsServersMustBeAddresses() {
        let problems = Self.problems { $0.network.address.dns = ["10.0.0.2", "2001:4860:4860::8888", "dns.local"] }
        #expect(problems == ["network.address.dns[2]": "'dns.local' is not an IP address"])
    }

    @Test func staticModeRequiresAddressGatewayAndDNS() {
        let problems = Self.problems { $0.network.address = .init(mode: .static) }
        #expect(problems["network.address.ip"] == "missing")
        #expect(problems["network.address.gateway"] == "missing")
        #expect(problems["network.address.dns"] == "missing")
    }

    @Test func dhcpModeForbidsAddressAndGateway() {
        let problems = Self.problems { $0.network.address.mode = .dhcp }
        #expect(problems["network.address.ip"] == "not used with mode: dhcp")
        #expect(problems["network.address.gateway"] == "not used with mode: dhcp")
        #expect(Self.problems { $0.network.address = .dhcp } == [:])
    }

    @Test func creatingASwitchNeedsAnAdapter() {
        #expect(
            Self.problems { $0.network.switch = .init(mode: .create, name: "br0") }["network.switch.adapter"]
                == "missing"
        )
        #expect(Self.problems { $0.network.switch = .init(mode: .create, name: "br0", adapter: "eth0") } == [:])
        #expect(
            Self.problems { $0.network.switch = .init(mode: .existing, name: "br0", adapter: "eth0") }[
                "network.switch.adapter"
            ]
                == "an adapter is only taken over when a switch is created"
        )
        #expect(
            Self.problems { $0.network.switch.name = "a-very-long-bridge-name" }["network.switch.name"]
                == "'a-very-long-bridge-name' is longer than 15 characters"
        )
    }

    @Test(
        arguments: [
            ("0.0.0.0:80", "127.0.0.1:5000", nil, nil),
            ("[::]:80", "[::1]:5000", nil, nil),
            ("0.0.0.0:80", "127.0.0.1:80", nil, "127.0.0.1:80 clashes with engine.listen 0.0.0.0:80"),
            ("127.0.0.1:8080", "127.0.0.1:8080", nil, "127.0.0.1:8080 clashes with engine.listen 127.0.0.1:8080"),
            ("127.0.0.1:8080", "127.0.0.2:8080", nil, nil),
            ("0.0.0.0:0", "127.0.0.1:5000", "'0.0.0.0:0' is not address:port", nil),
            ("0.0.0.0:65536", "127.0.0.1:5000", "'0.0.0.0:65536' is not address:port", nil),
            ("localhost:80", "127.0.0.1:5000", "'localhost:80' is not address:port", nil),
            ("0.0.0.0", "127.0.0.1:5000", "'0.0.0.0' is not address:port", nil),
            ("0.0.0.0:80", "::1:5000", nil, "'::1:5000' is not address:port"),
        ] as [(String, String, String?, String?)]
    )
    func listenAndAdminAddresses(_ listen: String, _ admin: String, _ listenProblem: String?, _ adminProblem: String?) {
        let problems = Self.problems {
            $0.engine.listen = listen
            $0.engine.admin = admin
        }
        #expect(problems["engine.listen"] == listenProblem)
        #expect(problems["engine.admin"] == adminProblem)
    }

    @Test func drivePathsAreAbsoluteAndDistinct() {
        let problems = Self.problems {
            $0.storage.drives = [
                .init(path: "/srv/cache", sizeGB: 100),
                .init(path: "srv/other", sizeGB: 100),
                .init(path: "/srv//cache/", sizeGB: 100),
                .init(path: "/srv/cache/inner", sizeGB: 100),
                .init(path: "/srv/../etc", sizeGB: 100),
            ]
        }
        #expect(problems["storage.drives[1].path"] == "'srv/other' is not an absolute path")
        #expect(problems["storage.drives[2].path"] == "/srv//cache/ is already drive 0")
        #expect(problems["storage.drives[3].path"] == "/srv/cache/inner overlaps drive 0 (/srv/cache)")
        #expect(problems["storage.drives[4].path"] == "'/srv/../etc' contains '..'")
        #expect(problems["storage.drives[0].path"] == nil)
    }

    @Test func drivesAreAtLeastFiftyGigabytesUnlessTheTestProfileLowersIt() {
        #expect(
            Self.problems { $0.storage.drives[0].sizeGB = 49.5 }["storage.drives[0].size_gb"]
                == "49.5 GB is below the minimum of 50 GB per drive"
        )
        #expect(Self.problems { $0.storage.drives[0].sizeGB = 50 } == [:])
        #expect(
            Self.problems {
                $0.storage.drives[0].sizeGB = 100
                $0.resources.profile = "large"
            }["storage.drives[0].size_gb"] == "100 GB is below the minimum of 200 GB per drive"
        )
        #expect(
            Self.problems {
                $0.storage.drives[0].sizeGB = 0.05
                $0.resources.profile = "test"
            } == [:]
        )
        #expect(Self.problems { $0.resources.profile = "huge" }["resources.profile"] == "no sizing profile 'huge'")
    }

    @Test func memoryAndCoresArePositive() {
        let problems = Self.problems {
            $0.resources.memoryGB = 0
            $0.resources.cores = -2
        }
        #expect(problems["resources.memory_gb"] == "must be a positive whole number of GB")
        #expect(problems["resources.cores"] == "must be a positive whole number")
    }

    @Test(arguments: [
        ("http://proxy.contoso.local:3128", true),
        ("http://10.0.0.9:8080/", true),
        ("http://[::1]:3128", true),
        ("https://proxy:3128", false),
        ("http://user:pw@proxy:3128", true),
        // The password then comes from upstream_proxy_password_file or CACHENODE_PROXY_PASSWORD at setup.
        ("http://user@proxy:3128", true),
        ("http://:pw@proxy:3128", false),
        ("http://user:pw@proxy", false),
        ("http://proxy", false),
        ("proxy:3128", false),
    ])
    func upstreamProxy(_ proxy: String, _ valid: Bool) {
        #expect((Self.problems { $0.engine.upstreamProxy = proxy }["engine.upstream_proxy"] == nil) == valid)
    }

    @Test func proxyCredentialsAreReadWithPercentEscapes() throws {
        let proxy = try #require(ProxyURL("http://svc%40contoso:p%3Ass@proxy.contoso.local:3128/"))
        #expect(proxy.host == "proxy.contoso.local")
        #expect(proxy.port == 3128)
        #expect(proxy.user == "svc@contoso")
        #expect(proxy.password == "p:ss")
        #expect(ProxyURL("http://proxy:3128")?.user == nil)
    }

    @Test func proxyPasswordsAreNeverShown() {
        #expect(
            ProxyURL.redacting("http://svc:p%3Ass@proxy.contoso.local:3128")
                == "http://svc:****@proxy.contoso.local:3128"
        )
        #expect(ProxyURL.redacting("http://proxy.contoso.local:3128") == "http://proxy.contoso.local:3128")
        var old = Self.base()
        old.engine.upstreamProxy = "http://svc:old-secret@proxy:3128"
        var new = old
        new.engine.upstreamProxy = "http://svc:new-secret@proxy:3128"
        let change = new.changes(from: old).first { $0.key == "engine.upstream_proxy" }
        #expect(
            change
                == SettingChange(
                    key: "engine.upstream_proxy",
                    old: "http://svc:****@proxy:3128",
                    new: "http://svc:****@proxy:3128 (new password)"
                )
        )
        new.engine.upstreamProxy = nil
        #expect(new.changes(from: old).first { $0.key == "engine.upstream_proxy" }?.new == "-")
    }

    @Test func engineTuningMustBeSensible() {
        let problems = Self.problems {
            $0.engine.blockSizeKB = 1000
            $0.engine.maxConnections = 0
            $0.engine.originReadTimeoutSeconds = 0
            $0.engine.fillConnections = 17
        }
        #expect(problems["engine.fill_connections"] == "must be a whole number from 1 to 16, found 17")
        #expect(Self.problems { $0.engine.fillConnections = 0 }["engine.fill_connections"] != nil)
        #expect(Self.problems { $0.engine.fillConnections = 16 }["engine.fill_connections"] == nil)
        #expect(problems["engine.block_size_kb"] == "1000 is not a power of two from 64 to 16384")
        #expect(problems["engine.max_connections"] == "must be a positive whole number, found 0")
        #expect(problems["engine.origin_read_timeout_s"] == "must be a positive whole number, found 0")
    }
}

struct ServicePathTests {
    @Test(arguments: [
        ("/", "is a system directory"),
        ("/var/lib", "is a system directory"),
        ("/srv", "is a system directory"),
        ("/tmp", "is a system directory"),
        ("/etc/cachenode", "is inside /etc, which belongs to the system"),
        ("/usr/local/cache", "is inside /usr, which belongs to the system"),
        ("/home/ada", "is inside a home directory"),
        ("/root/cache", "is inside a home directory"),
        ("/proc/self", "is inside /proc"),
        ("/srv/cache", ""),
        ("/var/lib/cachenode", ""),
        ("/var/cache/cachenode", ""),
        ("/mnt/ssd1/cache", ""),
        ("/srv//cache/", ""),
    ])
    func theServiceTakesOverOnlyDirectoriesOfItsOwn(path: String, problem: String) {
        let found = PathRules.systemPathProblem(path)
        if problem.isEmpty {
            #expect(found == nil)
        } else {
            #expect(found?.contains(problem) == true, "\(found ?? "nil")")
        }
    }
}

struct ProxyPasswordFileTests {
    @Test(
        arguments: [
            ("http://squid@proxy:3128", "/var/lib/cachenode/upstream-proxy.password", nil),
            ("http://squid@proxy:3128", "relative.password", "is not an absolute path"),
            (nil, "/var/lib/cachenode/upstream-proxy.password", "set, but engine.upstream_proxy is not"),
            ("http://proxy:3128", "/var/lib/cachenode/upstream-proxy.password", "the proxy URL names no user"),
            ("http://squid:pw@proxy:3128", "/var/lib/cachenode/upstream-proxy.password", "carries a password too"),
        ] as [(String?, String, String?)]
    )
    func thePasswordFileNeedsAUserAndNoPasswordInTheURL(proxy: String?, file: String, problem: String?) {
        var configuration = ValidationTests.base()
        configuration.engine.upstreamProxy = proxy
        configuration.engine.upstreamProxyPasswordFile = file
        let found = configuration.validate(sizing: TestResources.sizing).first {
            $0.keyPath == "engine.upstream_proxy_password_file"
        }
        if let problem {
            #expect(found?.message.contains(problem) == true, "\(String(describing: found))")
        } else {
            #expect(found == nil)
        }
    }

    @Test func aUserWithoutPasswordIsAProxyURL() {
        #expect(ProxyURL("http://squid@proxy:3128")?.user == "squid")
        #expect(ProxyURL("http://squid@proxy:3128")?.password == nil)
        #expect(ProxyURL.removingPassword("http://squid:p%40ss@proxy:3128") == "http://squid@proxy:3128")
        #expect(ProxyURL("http://:pw@proxy:3128") == nil)
    }

    @Test func theKeyIsReadAndWrittenBack() throws {
        var configuration = ValidationTests.base()
        configuration.engine.upstreamProxy = "http://squid@proxy:3128"
        configuration.engine.upstreamProxyPasswordFile = "/var/lib/cachenode/upstream-proxy.password"
        let text = AnswerFile.emit(configuration)
        #expect(text.contains("  upstream_proxy_password_file: /var/lib/cachenode/upstream-proxy.password\n"))
        #expect(try AnswerFile.load(text, sizing: TestResources.sizing) == configuration)
    }
}
