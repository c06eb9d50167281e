import CacheNodeCore
import Testing

/// The `hub:` section: a hub on this machine, a hub service elsewhere with its certificate and secret file, or none.
struct HubAnswersTests {
    static let fingerprint = "SHA256:" + (0..<32).map { String(format: "%02X", $0) }.joined(separator: ":")

    /// The design example with `hub:` replaced by `section` (indented lines after `hub:`).
    static func answers(_ section: String) -> String {
        AnswerFileTests.valid.replacingOccurrences(
            of: "hub:\n  mode: create\n  name: contoso-west\n",
            with: "hub:\n" + section
        )
    }

    static func issues(_ section: String) -> [String] {
        do {
            _ = try AnswerFile.load(answers(section), sizing: TestResources.sizing)
            return []
        } catch {
            return error.issues.map { "\($0.line ?? 0): \($0)" }
        }
    }

    @Test(
        arguments: [
            // A hub on this machine needs nothing more.
            ("  mode: create\n  name: contoso-west\n", []),
            // A hub service with a pinned certificate and a one-time key.
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org:7000\n  fingerprint: \(fingerprint)\n"
                    + "  enrolment_key_file: /root/hub.key\n", []
            ),
            // ... with its admin token, creating the hub there; or a CA file instead of the fingerprint.
            (
                "  mode: create\n  name: contoso-west\n  url: https://hub.example.org:7000\n  ca_file: /etc/ssl/hub-ca.pem\n"
                    + "  admin_token_file: /root/hub.token\n", []
            ),
            // Plain HTTP on loopback (a hub on this machine served by `hub serve --plain-http`).
            (
                "  mode: existing\n  name: contoso-west\n  url: http://127.0.0.1:7000\n  enrolment_key_file: /root/hub.key\n",
                []
            ),
            // No hub at all: a re-run with it unlinks the node.
            ("  mode: none\n", []),
            (
                "  mode: none\n  name: contoso-west\n",
                ["23: hub.name: not used with mode: none (remove it, or use mode: existing)"]
            ),
            ("  mode: existing\n", ["21: hub.name: missing (a value is required)"]),
            (
                "  mode: existing\n  name: contoso-west\n  url: hub.example.org:7000\n",
                [
                    "24: hub.url: 'hub.example.org:7000' is not an https:// URL (https://HOST:PORT, as `cachenode hub serve` prints it)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: http://198.51.100.9:7000\n",
                [
                    "24: hub.url: http://198.51.100.9:7000 is plain HTTP across the network, where keys and tokens would travel in the clear "
                        + "(https://HOST:PORT, as `cachenode hub serve` prints it)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://admin:secret@hub.example.org:7000\n",
                [
                    "24: hub.url: 'https://admin:****@hub.example.org:7000' carries credentials; setup takes them from files "
                        + "(https://HOST:PORT, as `cachenode hub serve` prints it)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org:70000\n",
                [
                    "24: hub.url: 'https://hub.example.org:70000' has no valid port (1 to 65535) (https://HOST:PORT, as `cachenode hub serve` prints it)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org:7000/v1\n",
                [
                    "24: hub.url: 'https://hub.example.org:7000/v1' has a path; a hub service is addressed by scheme, host and port only "
                        + "(https://HOST:PORT, as `cachenode hub serve` prints it)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org\n  fingerprint: AB:CD\n",
                [
                    "25: hub.fingerprint: 'AB:CD' is not a SHA-256 fingerprint (64 hex digits, as `cachenode hub info` prints them on the hub)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org\n  fingerprint: \(fingerprint)\n  ca_file: /ca.pem\n",
                ["26: hub.ca_file: set together with hub.fingerprint (one of them: the fingerprint, or a CA file)"]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  fingerprint: \(fingerprint)\n",
                [
                    "24: hub.fingerprint: only for a hub service elsewhere (set hub.url, or remove it for the hub on this machine)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: http://localhost:7000\n  ca_file: /ca.pem\n",
                ["25: hub.ca_file: not used with http:// (a hub on loopback, no TLS) (remove it, or use https://)"]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  enrolment_key_file: /root/hub.key\n",
                [
                    "24: hub.enrolment_key_file: a hub on this machine needs no key or token (remove it: setup registers the node itself)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org\n  admin_token_file: hub.token\n",
                [
                    "25: hub.admin_token_file: 'hub.token' is not an absolute path (an absolute path of a file of its own (mode 0600))"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org\n  enrolment_key_file: /k\n  admin_token_file: /t\n",
                [
                    "26: hub.admin_token_file: set together with hub.enrolment_key_file (one of them: a one-time key, or the admin token)"
                ]
            ),
            (
                "  mode: create\n  name: contoso-west\n  url: https://hub.example.org\n  enrolment_key_file: /k\n",
                [
                    "25: hub.enrolment_key_file: a one-time key joins a node created in a hub that exists "
                        + "(mode: existing; or admin_token_file to create the hub)"
                ]
            ),
            (
                "  mode: existing\n  name: contoso-west\n  enrollment_key_file: /k\n",
                ["24: hub.enrollment_key_file: unknown key (did you mean 'enrolment_key_file'?)"]
            ),
        ] as [(String, [String])]
    )
    func hubSections(_ section: String, _ expected: [String]) {
        #expect(Self.issues(section) == expected)
    }

    @Test(arguments: [
        "  mode: none\n",
        "  mode: existing\n  name: contoso-west\n  url: https://hub.example.org:7000\n  fingerprint: \(fingerprint)\n"
            + "  enrolment_key_file: /root/hub.key\n",
        "  mode: create\n  name: contoso-west\n  url: https://hub.example.org:7443\n  ca_file: /etc/ssl/hub-ca.pem\n"
            + "  admin_token_file: /root/hub.token\n",
    ])
    func emittedHubSectionsReadBack(_ section: String) throws {
        let configuration = try AnswerFile.load(Self.answers(section), sizing: TestResources.sizing)
        let emitted = AnswerFile.emit(configuration)
        #expect(try AnswerFile.load(emitted, sizing: TestResources.sizing) == configuration)
        #expect(emitted.contains("hub:\n" + section))
    }

    @Test(
        arguments: [
            (
                "SHA256:" + String(repeating: "ab", count: 32),
                "SHA256:" + Array(repeating: "AB", count: 32).joined(separator: ":")
            ),
            (String(repeating: "0f", count: 32), "SHA256:" + Array(repeating: "0F", count: 32).joined(separator: ":")),
            (
                " sha256:" + Array(repeating: "aB", count: 32).joined(separator: ":") + " ",
                "SHA256:" + Array(repeating: "AB", count: 32).joined(separator: ":")
            ),
            (String(repeating: "ab", count: 31), nil),
            (String(repeating: "zz", count: 32), nil),
        ] as [(String, String?)]
    )
    func fingerprintsAsPeopleTypeThem(_ text: String, _ normalised: String?) {
        #expect(HubFingerprint.normalised(text) == normalised)
    }

    @Test func aMoveOrUnlinkShowsAsAChange() {
        let old = ValidationTests.base()
        var moved = old
        moved.hub = .init(
            mode: .existing,
            name: "fabrikam",
            url: "https://hub.example.org:7000",
            fingerprint: Self.fingerprint
        )
        let changes = moved.changes(from: old).map { "\($0.key): \($0.old) -> \($0.new)" }
        #expect(
            changes == [
                "hub.mode: create -> existing", "hub.name: contoso-west -> fabrikam",
                "hub.url: - -> https://hub.example.org:7000",
                "hub.fingerprint: - -> \(Self.fingerprint)",
            ]
        )
        var unlinked = old
        unlinked.hub = .unlinked
        #expect(unlinked.changes(from: old).map(\.key) == ["hub.mode", "hub.name"])
    }
}
