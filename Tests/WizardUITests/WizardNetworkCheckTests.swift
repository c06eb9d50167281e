import CacheNodeCore
import Testing
import WizardUI

/// The address step checks the network of its answers before the wizard goes on; warnings need a tick.
struct WizardNetworkCheckTests {
    static func wizard(results: [NetworkCheck]) -> Wizard {
        var context = WizardFixtures.context(hubs: ["contoso-west"])
        context.checkNetwork = { _ in results }
        var wizard = Wizard(context: context)
        wizard.press(.char(" "), .enter)
        wizard.type("Branch-7")
        wizard.press(.enter, .enter, .enter)
        return wizard
    }

    static let taken = NetworkCheck(
        id: "address",
        title: "Address 10.0.0.60 not in use",
        status: .warning,
        detail: "52:54:00:12:34:56 answers for 10.0.0.60 on br0: the address is taken",
        timeoutSeconds: 2
    )
    static let gateway = NetworkCheck(
        id: "gateway",
        title: "Gateway 10.0.0.1 answers",
        status: .pass,
        detail: "52:54:00:aa:bb:cc answers on br0",
        timeoutSeconds: 2
    )

    /// Static 10.0.0.60/24 by 10.0.0.1, DNS 10.0.0.2, no proxy, then Enter on the last field.
    static func answerAddress(_ wizard: inout Wizard) -> WizardAction {
        #expect(wizard.step == .address)
        wizard.press(.enter)
        wizard.type("10.0.0.60/24")
        wizard.press(.enter)
        wizard.type("10.0.0.1")
        wizard.press(.enter)
        wizard.type("10.0.0.2")
        wizard.press(.enter)
        return wizard.press(.enter)
    }

    @Test func checksThatPassLetTheWizardGoOn() {
        var wizard = Self.wizard(results: [Self.gateway])
        let action = Self.answerAddress(&wizard)
        guard case .checkNetwork(let configuration) = action else {
            Issue.record("expected a network check, got \(action)")
            return
        }
        #expect(configuration.network.address.ip == "10.0.0.60/24")
        #expect(wizard.step == .address, "nothing moves before the checks are in")
        _ = wizard.recordNetworkChecks([Self.gateway], for: configuration)
        #expect(wizard.step == .storage)
    }

    @Test func warningsAreShownAndGoOnOnlyOnceTicked() throws {
        var wizard = Self.wizard(results: [Self.taken, Self.gateway])
        guard case .checkNetwork(let configuration) = Self.answerAddress(&wizard) else {
            Issue.record("expected a network check")
            return
        }
        _ = wizard.recordNetworkChecks([Self.taken, Self.gateway], for: configuration)
        #expect(wizard.step == .address)
        #expect(wizard.focusedField == .networkWarningsAccepted)
        try expectSnapshot(wizard, "21-address-network-warnings")
        wizard.press(.enter)
        #expect(wizard.step == .address, "not without the tick")
        #expect(wizard.screen.contains("tick it with Space to go on despite the network"))
        wizard.press(.char(" "), .enter)
        #expect(wizard.step == .storage)
    }

    @Test func changingAnAnswerChecksAgain() {
        var wizard = Self.wizard(results: [Self.taken])
        guard case .checkNetwork(let configuration) = Self.answerAddress(&wizard) else {
            Issue.record("expected a network check")
            return
        }
        _ = wizard.recordNetworkChecks([Self.taken], for: configuration)
        wizard.press(.char(" "))
        // Back to the address field: another address is another network to check.
        wizard.press(.backTab, .backTab, .backTab, .backTab)
        #expect(wizard.focusedField == .ip)
        wizard.clearField()
        wizard.type("10.0.0.61/24")
        #expect(wizard.currentNetworkChecks == nil)
        #expect(!wizard.fields(.address).contains(.networkWarningsAccepted))
        wizard.press(.enter, .enter, .enter)
        guard case .checkNetwork(let again) = wizard.press(.enter) else {
            Issue.record("expected the network to be checked again")
            return
        }
        #expect(again.network.address.ip == "10.0.0.61/24")
    }
}
