import CacheNodeCore
import Testing
import WizardUI

/// The hub step with a hub service elsewhere: the address and certificate are checked at once, the key or token is
/// typed but never part of the answers, and an admin token lists the hubs to pick from.
struct WizardHubTests {
    static let pinned = "SHA256:" + Array(repeating: "AB", count: 32).joined(separator: ":")
    static let presented = "SHA256:" + Array(repeating: "CD", count: 32).joined(separator: ":")

    /// A wizard on the hub step, with a node name given.
    static func atHubStep(hubs: [String] = ["contoso-west"]) -> Wizard {
        var context = WizardFixtures.context(hubs: hubs)
        context.checkHub = { _ in HubCheckResult() }
        var wizard = Wizard(context: context)
        wizard.draft.nodeName = TextField("Seattle-1")
        wizard.step = .hub
        return wizard
    }

    @Test func aOneTimeKeyJoinsAHubServiceAfterItsCertificateIsChecked() {
        var wizard = Self.atHubStep()
        wizard.press(.char("3"))
        #expect(wizard.fields(.hub) == [.hubMode, .hubURL, .hubCertificate, .hubJoin, .hubSecret, .keyHub])
        wizard.press(.enter)
        wizard.type("http://198.51.100.9:7000")
        #expect(
            wizard.visibleErrors(.hub)[.hubURL]?.hasPrefix("http://198.51.100.9:7000 is plain HTTP across the network")
                == true
        )
        wizard.clearField()
        wizard.type("https://hub.example.org:7000")
        wizard.press(.enter)
        wizard.type("AB:CD")
        #expect(wizard.visibleErrors(.hub)[.hubCertificate]?.hasPrefix("'AB:CD' is not a SHA-256 fingerprint") == true)
        wizard.clearField()
        wizard.type(Self.pinned.lowercased())
        wizard.press(.enter, .enter)
        #expect(wizard.focusedField == .hubSecret)
        wizard.type("one-time-key-123")
        #expect(wizard.screen.contains("[****************]"), "the key shows as asterisks")
        #expect(!wizard.screen.contains("one-time-key-123"))
        wizard.press(.enter)
        wizard.type("contoso-west")

        // Enter checks the service at once, without the key: it works once, at the install.
        let check = wizard.press(.enter)
        let request = HubCheckRequest(url: "https://hub.example.org:7000", fingerprint: Self.pinned)
        #expect(check == .checkHub(request))
        let refused = HubCheckResult(
            trustProblem:
                "the hub at hub.example.org:7000 presented a certificate with fingerprint \(Self.presented), not the pinned \(Self.pinned)"
        )
        #expect(wizard.recordHubCheck(refused, for: request) == .none)
        #expect(wizard.step == .hub)
        #expect(wizard.focusedField == .hubCertificate)
        #expect(
            wizard.visibleErrors(.hub)[.hubCertificate]?.contains(
                "fingerprint \(Self.presented), not the pinned \(Self.pinned)"
            ) == true
        )

        // The right certificate: on to Review, which shows the link and not the key.
        wizard.clearField()
        wizard.type(Self.presented)
        let again = HubCheckRequest(url: "https://hub.example.org:7000", fingerprint: Self.presented)
        #expect(wizard.press(.enter, .enter, .enter, .enter) == .checkHub(again))
        #expect(wizard.recordHubCheck(HubCheckResult(), for: again) == .none)
        #expect(wizard.step == .https)
        wizard.press(.enter)
        #expect(wizard.step == .review)
        #expect(wizard.screen.contains("7 Hub         existing contoso-west at https://hub.example.org:7000"))
        #expect(wizard.screen.contains("(certificate SHA256:CD:CD:CD:CD:C...)"))
        let configuration = wizard.draft.configuration(wizard.context)
        #expect(
            configuration.hub
                == .init(
                    mode: .existing,
                    name: "contoso-west",
                    url: "https://hub.example.org:7000",
                    fingerprint: Self.presented
                )
        )
        #expect(wizard.draft.hubCredentialGiven == .enrolmentKey("one-time-key-123"))
        let draft = Wizard.draftText(configuration, sizing: WizardFixtures.sizing)
        #expect(!draft.contains("one-time-key-123"))
        #expect(draft.contains("The hub's key or token is never saved"))
    }

    @Test func anAdminTokenListsTheServicesHubsToPickFrom() {
        var wizard = Self.atHubStep()
        wizard.press(.char("3"), .enter)
        wizard.type("https://hub.example.org:7000")
        wizard.press(.enter)
        wizard.type(Self.pinned)
        wizard.press(.enter, .char("2"), .enter)
        wizard.type("admin-token-456")
        #expect(wizard.fields(.hub).last == .hubSecret, "the hubs are not known before the check")
        let request = HubCheckRequest(
            url: "https://hub.example.org:7000",
            fingerprint: Self.pinned,
            adminToken: "admin-token-456"
        )
        #expect(wizard.press(.enter) == .checkHub(request))

        // A refused token shows on its field.
        #expect(
            wizard.recordHubCheck(
                HubCheckResult(secretProblem: "the hub service refused this admin token"),
                for: request
            ) == .none
        )
        #expect(wizard.focusedField == .hubSecret)
        #expect(wizard.visibleErrors(.hub)[.hubSecret] == "the hub service refused this admin token")

        let listed = HubCheckResult(hubs: ["remote-east", "remote-west"], nodesByHub: ["remote-west": ["Seattle-1"]])
        #expect(wizard.recordHubCheck(listed, for: request) == .none)
        #expect(wizard.focusedField == .existingHub)
        #expect(wizard.screen.contains("(*) 1  remote-east"))
        wizard.press(.char("2"))
        #expect(
            wizard.visibleErrors(.hub)[.existingHub]
                == "hub 'remote-west' already has a node named 'Seattle-1' (a name is unique in its hub)"
        )
        wizard.press(.char("1"), .enter)
        #expect(wizard.step == .https)
        #expect(wizard.draft.configuration(wizard.context).hub.name == "remote-east")
        #expect(wizard.draft.hubCredentialGiven == .adminToken("admin-token-456"))
        #expect(!wizard.screen.contains("admin-token-456"))
    }

    @Test func theHubOnThisMachineNeedsNoCheck() {
        var wizard = Self.atHubStep()
        #expect(wizard.fields(.hub) == [.hubMode, .existingHub])
        #expect(wizard.press(.enter, .enter) == .none)
        #expect(wizard.step == .https)
        #expect(wizard.draft.configuration(wizard.context).hub == .init(mode: .existing, name: "contoso-west"))
        #expect(wizard.draft.hubCredentialGiven == nil)
    }
}
