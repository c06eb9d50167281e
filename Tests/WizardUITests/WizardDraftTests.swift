import CacheNodeCore
import Testing
import WizardUI

/// Answers are never lost: a run that does not finish leaves them, the next run offers them, no password in them.
struct WizardDraftTests {
    static let draftPath = "/tmp/root/var/lib/cachenode/setup-draft.yaml"

    /// What a run cut off on the address step left: a name, a new switch, no address yet.
    static let saved = NodeConfiguration(
        node: .init(name: "Keep-1"),
        network: .init(
            switch: .init(mode: .create, name: "br7", adapter: "eno2"),
            address: .init(mode: .static, ip: "10.0.0.70/24")
        ),
        storage: .init(drives: [.init(path: "/srv/keep", sizeGB: 300)]),
        resources: .init(memoryGB: 8, cores: 8, profile: "large"),
        hub: .init(mode: .create, name: "keep-hub"),
        engine: .init(listen: "0.0.0.0:8080", upstreamProxy: "http://squid-user@proxy.example.lan:3128")
    )

    static func context(saved: NodeConfiguration? = nil, isDryRun: Bool = false) -> WizardContext {
        var context = WizardFixtures.context(isDryRun: isDryRun)
        context.savedAnswers = saved.map { .init(path: draftPath, savedAt: "2026-11-29 17:05", configuration: $0) }
        context.draftPath = isDryRun ? nil : draftPath
        return context
    }

    @Test func theFirstScreenOffersTheAnswersOfAnEarlierRun() throws {
        var wizard = Wizard(context: Self.context(saved: Self.saved))
        #expect(wizard.overlay == .resumeDraft)
        try expectSnapshot(wizard, "19-resume-draft")
        // Keys go to the question, not to the welcome screen behind it.
        wizard.press(.char(" "))
        #expect(!wizard.draft.continueAnyway)
        wizard.press(.enter)
        #expect(wizard.overlay == nil)
        #expect(wizard.step == .welcome)

        wizard.press(.char(" "), .enter)
        #expect(wizard.text(.nodeName).text == "Keep-1")
        wizard.press(.enter)
        #expect(wizard.step == .network)
        #expect(wizard.draft.switchMode == .create)
        #expect(wizard.text(.newSwitch).text == "br7")
        #expect(wizard.options(.adapter)[wizard.selection(.adapter)].value == "eno2")
        // Confirmations belong to the run that applies them: the restart is ticked again.
        #expect(!wizard.isChecked(.restartUnderstood))
        wizard.press(.enter, .enter, .enter, .char(" "), .enter)
        #expect(wizard.step == .address)
        #expect(wizard.text(.ip).text == "10.0.0.70/24")
        #expect(wizard.text(.upstreamProxy).text == "http://squid-user@proxy.example.lan:3128")
        // The password was never saved: it is asked for again.
        #expect(wizard.fields(.address).last == .proxyPassword)
        #expect(
            wizard.stepErrors(.address)[.proxyPassword]
                == "type the password of squid-user (it is never saved with the answers)"
        )
    }

    @Test func startingAfreshKeepsTheDefaultsAndQuittingAsksFirst() {
        var wizard = Wizard(context: Self.context(saved: Self.saved))
        wizard.press(.ctrlC)
        #expect(wizard.overlay == .confirmQuit)
        wizard.press(.char("n"))
        #expect(wizard.overlay == .resumeDraft, "the question is still open after quitting was declined")
        wizard.press(.char("2"), .enter)
        #expect(wizard.overlay == nil)
        #expect(wizard.text(.nodeName).isEmpty)
        #expect(wizard.draft == Wizard(context: Self.context()).draft)
        // Starting afresh leaves the earlier file alone until this run has answers of its own.
        #expect(wizard.draftAnswers == nil)
    }

    @Test func answersAreKeptFromTheSecondStepOnButNotByADryRunOrAfterAnInstall() {
        var wizard = Wizard(context: Self.context())
        #expect(!wizard.keepsDraft)
        wizard.press(.char(" "), .enter)
        #expect(wizard.step == .name)
        #expect(wizard.keepsDraft)
        wizard.press(.ctrlC)
        let quitting = WizardRenderer.render(wizard).text
        #expect(quitting.contains("Your answers are kept in"))
        #expect(quitting.contains(Self.draftPath))
        #expect(wizard.press(.char("y")) == .quit)

        var dryRun = Wizard(context: Self.context(isDryRun: true))
        dryRun.press(.char(" "), .enter)
        #expect(dryRun.step == .name)
        #expect(dryRun.draftAnswers == nil)

        var applied = Wizard(context: Self.context())
        applied.press(.char(" "), .enter)
        applied.finishApply(.failed(step: "start the engine", message: "the engine exited at once", exitCode: 4))
        #expect(applied.draftAnswers != nil)
        #expect(applied.screen.contains("Your answers are kept in \(Self.draftPath); the next\nsetup offers to start"))
        applied.finishApply(.installed(cacheHost: "10.0.0.50:8080", policyDirectory: "/tmp/root/policy", warnings: []))
        #expect(applied.draftAnswers == nil)
    }

    @Test func anIncompleteDraftSaysWhatIsMissingAndReadsBackAsTyped() throws {
        var wizard = Wizard(context: Self.context())
        wizard.press(.char(" "), .enter)
        wizard.type("Half-1")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .address)
        wizard.press(.enter)
        wizard.type("10.0.0.")
        let text = try #require(wizard.draftAnswers)
        #expect(text.contains("# Not complete yet: --answers refuses this file until these are answered"))
        #expect(text.contains("#   network.address.ip: "))
        #expect(text.contains("  name: Half-1\n"))
        #expect(throws: AnswerFileError.self) { try AnswerFile.load(text, sizing: WizardFixtures.sizing) }

        let decoded = try #require(AnswerFile.decode(text).configuration)
        let resumed = WizardDraft(context: Self.context(), saved: decoded)
        #expect(resumed.nodeName.text == "Half-1")
        #expect(resumed.ip.text == "10.0.0.")
        #expect(resumed.existingSwitch == wizard.draft.existingSwitch)
        #expect(resumed.drives == wizard.draft.drives)
    }

    @Test func theProxyPasswordIsHiddenAndOnlyTheInstallGetsIt() throws {
        let canary = "pa55-canary:@/"
        var context = WizardFixtures.context(hubs: [], isDryRun: false)
        context.draftPath = Self.draftPath
        var wizard = Wizard(context: context)
        wizard.press(.char(" "), .enter)
        wizard.type("Proxy-1")
        wizard.press(.enter, .enter, .enter, .char("2"), .enter)
        #expect(wizard.focusedField == .upstreamProxy)
        wizard.type("http://squid-user@proxy.example.lan:3128")
        #expect(wizard.fields(.address) == [.addressMode, .upstreamProxy, .proxyPassword])
        wizard.press(.enter)
        #expect(wizard.step == .address, "a user without a password is refused")
        #expect(wizard.focusedField == .proxyPassword)
        wizard.type(canary)
        #expect(wizard.screen.contains("Proxy password:       [\(String(repeating: "*", count: canary.count))]"))
        #expect(!wizard.screen.contains(canary))
        wizard.press(.enter)
        #expect(wizard.step == .storage)
        wizard.press(.enter, .enter, .enter, .enter, .enter, .enter, .enter)
        wizard.type("proxy-hub")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .review)
        #expect(wizard.screen.contains("http://squid-user:****@proxy.example.lan:3128"))
        #expect(!wizard.screen.contains("pa55"))
        let draft = try #require(wizard.draftAnswers)
        #expect(!draft.contains("pa55"))
        #expect(draft.contains("upstream_proxy: \"http://squid-user@proxy.example.lan:3128\""))
        #expect(draft.contains("# The upstream proxy's password is never saved"))

        wizard.reviewSelection = Wizard.reviewSteps.count
        guard case .apply(let configuration) = wizard.press(.enter) else {
            Issue.record("Review did not hand over to apply")
            return
        }
        // The install alone gets the password, in the URL it moves into the password file.
        let proxy = try #require(configuration.engine.upstreamProxy.flatMap(ProxyURL.init))
        #expect(proxy.user == "squid-user")
        #expect(proxy.password == canary)
        #expect(!WizardRenderer.render(wizard).text.contains("pa55"))
    }

    @Test func aReRunKeepsTheInstalledPasswordFileWhenNoneIsTyped() {
        let installed = NodeConfiguration(
            node: .init(name: "Seattle-1"),
            network: .init(switch: .init(mode: .existing, name: "br0"), address: .dhcp),
            storage: .init(drives: [.init(path: "/srv/cache", sizeGB: 200)]),
            resources: .init(memoryGB: 8, cores: 8, profile: "large"),
            hub: .init(mode: .create, name: "contoso-west"),
            engine: .init(
                upstreamProxy: "http://squid-user@proxy.example.lan:3128",
                upstreamProxyPasswordFile: "/var/lib/cachenode/upstream-proxy.password"
            )
        )
        var wizard = Wizard(context: WizardFixtures.context(installed: installed, isTrial: false, isDryRun: false))
        wizard.press(.enter, .enter, .enter, .enter)
        #expect(wizard.step == .address)
        wizard.press(.enter, .enter)
        #expect(wizard.focusedField == .proxyPassword)
        #expect(wizard.rule(.proxyPassword) == "blank keeps the password in /var/lib/cachenode/upstream-proxy.password")
        wizard.press(.enter)
        #expect(wizard.step == .storage)
        #expect(wizard.draft.secretConfiguration(wizard.context).engine == installed.engine)
    }
}
