import CacheNodeCore
import Testing

struct AnswerFileTests {
    static let valid = """
        version: 1
        node:
          name: Seattle-1
        network:
          switch:
            mode: existing
            name: br0
          address:
            mode: static
            ip: 10.0.0.50/24
            gateway: 10.0.0.1
            dns: [10.0.0.2]
        storage:
          state: /var/lib/cachenode
          drives:
            - path: /srv/cache
              size_gb: 200
        resources:
          memory_gb: 8
          cores: 8
        hub:
          mode: create
          name: contoso-west
        engine:
          listen: 0.0.0.0:80
          admin: 127.0.0.1:5000
          upstream_proxy: null
          extra_origins: []

        """

    @Test func readsEveryKeyOfTheDesignExample() throws {
        let configuration = try AnswerFile.load(Self.valid, sizing: TestResources.sizing)
        #expect(configuration.node.name == "Seattle-1")
        #expect(configuration.network.switch == .init(mode: .existing, name: "br0"))
        #expect(
            configuration.network.address
                == .init(mode: .static, ip: "10.0.0.50/24", gateway: "10.0.0.1", dns: ["10.0.0.2"])
        )
        #expect(configuration.storage.drives == [.init(path: "/srv/cache", sizeGB: 200)])
        #expect(configuration.resources == .init(memoryGB: 8, cores: 8))
        #expect(configuration.hub == .init(mode: .create, name: "contoso-west"))
        #expect(configuration.engine == NodeConfiguration.Engine())
    }

    @Test(arguments: TestResources.exampleAnswerFiles)
    func exampleFilesLoadAndRoundTrip(_ name: String) throws {
        let text = try TestResources.text("Resources/answers/\(name)")
        let first = try AnswerFile.load(text, sizing: TestResources.sizing)
        let emitted = AnswerFile.emit(first)
        let second = try AnswerFile.load(emitted, sizing: TestResources.sizing)
        #expect(first == second)
        #expect(AnswerFile.emit(second) == emitted)
    }

    @Test func roundTripKeepsAwkwardStrings() throws {
        var configuration = try AnswerFile.load(Self.valid, sizing: TestResources.sizing)
        configuration.storage.drives = [
            .init(path: "/srv/cache: one #1", sizeGB: 50.5),
            .init(path: "/srv/\"quoted\"/yes", sizeGB: 60),
        ]
        configuration.network.switch.name = "true"
        configuration.engine.extraOrigins = ["127.0.0.1", "*.example.org"]
        configuration.engine.upstreamProxy = "http://[::1]:3128"
        configuration.engine.blockSizeKB = 2048
        configuration.engine.fillConnections = 8
        #expect(AnswerFile.emit(configuration).contains("  fill_connections: 8\n"))
        let decoded = AnswerFile.decode(AnswerFile.emit(configuration))
        #expect(decoded.issues == [])
        #expect(decoded.configuration == configuration)
    }

    @Test func emittedFileNamesTheWizardSteps() throws {
        let configuration = try AnswerFile.load(Self.valid, sizing: TestResources.sizing)
        let text = AnswerFile.emit(configuration, header: "Written by cachenode setup")
        #expect(text.hasPrefix("# Written by cachenode setup\nversion: 1\n"))
        for step in ["Step 2", "Step 3", "Step 4", "Step 5", "Step 6", "Step 7"] {
            #expect(text.contains("# \(step):"))
        }
    }

    @Test func versionOtherThanOneIsAClearError() {
        let text = Self.valid.replacingFirst("version: 1", with: "version: 2")
        let issues = Self.issues(text)
        #expect(
            issues.contains(
                .init("version", line: 1, "version 2 is not supported", hint: "this release reads version 1")
            )
        )
    }

    @Test func unknownKeysAreErrorsWithTheirLineAndASuggestion() {
        let text = Self.valid.replacingFirst("    gateway: 10.0.0.1", with: "    gatway: 10.0.0.1")
        let issues = Self.issues(text)
        #expect(
            issues.contains(.init("network.address.gatway", line: 11, "unknown key", hint: "did you mean 'gateway'?"))
        )
        #expect(issues.contains { $0.keyPath == "network.address.gateway" && $0.message == "missing" })
    }

    @Test func everyProblemIsReportedAtOnce() {
        let text = """
            version: 1
            node:
              name: Seattle 1
            netwrk: {}
            storage:
              drives:
                - path: relative/path
                  size_gb: ten
            resources:
              memory_gb: "8"
              cores: 0
            hub:
              mode: maybe
              name: MICROSOFT-cache
            engine:
              listen: 0.0.0.0:80
              admin: 0.0.0.0:80

            """
        let issues = Self.issues(text)
        let paths = Set(issues.map(\.keyPath))
        #expect(
            paths
                == [
                    "node.name", "netwrk", "network", "storage.drives[0].path", "storage.drives[0].size_gb",
                    "resources.memory_gb", "resources.cores", "hub.mode", "hub.name", "engine.admin",
                ]
        )
        #expect(issues.first { $0.keyPath == "storage.drives[0].size_gb" }?.line == 8)
        #expect(issues.first { $0.keyPath == "hub.mode" }?.hint == "existing or create or none")
        #expect(issues.first { $0.keyPath == "resources.memory_gb" }?.message == "expected a whole number, found '8'")
    }

    @Test func formatsAsFileLineKeyPathMessageHint() {
        let error = AnswerFileError(issues: [
            .init(
                "network.address.gateway",
                line: 12,
                "10.0.1.1 is not in 10.0.0.0/24",
                hint: "a router inside the node's subnet"
            )
        ])
        #expect(
            error.formatted(file: "answers.yaml")
                == "answers.yaml:12: network.address.gateway: 10.0.1.1 is not in 10.0.0.0/24 (a router inside the node's subnet)"
        )
    }

    @Test func missingSectionsAreNamed() {
        let issues = Self.issues("version: 1\n")
        #expect(Set(issues.map(\.keyPath)) == ["node", "network", "storage", "resources", "hub"])
        #expect(issues.allSatisfy { $0.line == 1 && $0.message == "missing" })
    }

    @Test func engineSectionMayBeLeftOutAndGetsSafeDefaults() throws {
        let text = String(Self.valid[..<Self.valid.range(of: "engine:")!.lowerBound])
        let configuration = try AnswerFile.load(text, sizing: TestResources.sizing)
        #expect(configuration.engine.listen == "0.0.0.0:80")
        #expect(configuration.engine.admin == "127.0.0.1:5000")
        #expect(configuration.engine.blockSizeKB == 1024)
    }

    static let hostileInputs: [(String, String, String)] = [
        ("empty", "", "the answer file is empty"),
        ("only a comment", "# nothing\n", "the answer file is empty"),
        ("not YAML", "node: [unclosed\n", "not valid YAML"),
        ("a list", "- a\n- b\n", "expected a mapping of keys, found a list"),
        ("a scalar", "hello\n", "expected a mapping of keys, found 'hello'"),
        ("binary", "version: 1\n\u{0}\u{1}\u{2}binary", "the file holds binary data, not YAML text"),
        (
            "deeply nested", "a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000),
            "nested too deeply"
        ),
        ("too large", String(repeating: "x", count: AnswerFile.maximumBytes + 1), "too large for an answer file"),
        ("duplicate keys", "version: 1\nversion: 1\n", "duplicate"),
        ("alias bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "unknown key"),
    ]

    @Test(arguments: hostileInputs)
    func hostileInputGivesAClearErrorNotACrash(_ input: (name: String, text: String, expected: String)) {
        let issues = Self.issues(input.text)
        #expect(!issues.isEmpty, "\(input.name)")
        #expect(issues.contains { $0.description.contains(input.expected) }, "\(input.name): \(issues)")
    }

    @Test func tenMegabytesOfGarbageIsRefusedBeforeParsing() {
        let chunk = String((0..<1000).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x21...0x7E))) })
        let garbage = String(repeating: chunk, count: 10_000)
        let issues = Self.issues(garbage)
        #expect(issues.count == 1)
        #expect(issues.first?.message.contains("too large") == true)
    }

    static func issues(_ text: String) -> [ConfigurationIssue] {
        do {
            _ = try AnswerFile.load(text, sizing: TestResources.sizing)
            return []
        } catch {
            return error.issues
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
