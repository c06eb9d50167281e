import CacheNodeCore
import Foundation
import Testing
import WizardUI

/// `setup --listen` and `--admin-listen`: the engine's addresses a new install proposes, and a change a re-run shows.
struct WizardListenTests {
    static func context(installed: NodeConfiguration? = nil, listen: String?, admin: String?) -> WizardContext {
        var context = WizardFixtures.context(installed: installed, isDryRun: false)
        context.givenListen = listen
        context.givenAdmin = admin
        return context
    }

    static func installedTrial() throws -> NodeConfiguration {
        let text = try String(
            contentsOf: WizardFixtures.repository.appendingPathComponent("Resources/answers/trial.yaml"),
            encoding: .utf8
        )
        return try AnswerFile.load(text, sizing: WizardFixtures.sizing)
    }

    @Test func aNewTrialProposesTheGivenAddressesElse8080AndTheDefaultAdmin() {
        let given = Wizard(context: Self.context(listen: "127.0.0.1:18080", admin: "127.0.0.1:15000"))
        let engine = given.draft.configuration(given.context).engine
        #expect(engine.listen == "127.0.0.1:18080")
        #expect(engine.admin == "127.0.0.1:15000")
        let plain = Wizard(context: Self.context(listen: nil, admin: nil))
        #expect(plain.draft.configuration(plain.context).engine.listen == "0.0.0.0:8080")
        #expect(plain.draft.configuration(plain.context).engine.admin == "127.0.0.1:5000")
        var real = Self.context(listen: nil, admin: "127.0.0.1:5001")
        real.isTrial = false
        #expect(real.proposedListen == "0.0.0.0:80")
        #expect(real.proposedAdmin == "127.0.0.1:5001")
    }

    /// The HTTPS step proposes its port on the address `--listen` gives: a trial on loopback stays on loopback.
    @Test func theHTTPSProposalFollowsTheGivenAddress() {
        #expect(Self.context(listen: "127.0.0.1:18080", admin: nil).proposedHTTPSListen == "127.0.0.1:8443")
        #expect(Self.context(listen: "[::1]:18080", admin: nil).proposedHTTPSListen == "[::1]:8443")
        #expect(Self.context(listen: nil, admin: nil).proposedHTTPSListen == "0.0.0.0:8443")
        var real = Self.context(listen: "10.0.0.50:80", admin: nil)
        real.isTrial = false
        #expect(real.proposedHTTPSListen == "10.0.0.50:443")
    }

    /// A re-run keeps the installed addresses without the flags; with one, Review shows it as a change.
    @Test func aReRunKeepsTheInstalledAddressesUnlessAFlagChangesThem() throws {
        let installed = try Self.installedTrial()
        var kept = Wizard(context: Self.context(installed: installed, listen: nil, admin: nil))
        #expect(kept.draft.configuration(kept.context).engine == installed.engine)
        kept.step = .review
        // (The trial's hub, created by the install, is an existing one now: that change is the only one.)
        #expect(!kept.screen.contains("engine.listen:") && !kept.screen.contains("engine.admin:"), "\(kept.screen)")
        #expect(kept.screen.contains("Listen      127.0.0.1:8080 (what clients'"), "\(kept.screen)")

        var moved = Wizard(context: Self.context(installed: installed, listen: "127.0.0.1:18080", admin: nil))
        let engine = moved.draft.configuration(moved.context).engine
        #expect(engine.listen == "127.0.0.1:18080")
        #expect(engine.admin == installed.engine.admin)
        moved.step = .review
        let review = moved.screen
        #expect(review.contains("Listen      127.0.0.1:18080 (what clients' DOCacheHost points at)"), "\(review)")
        #expect(review.contains("engine.listen: 127.0.0.1:8080 -> 127.0.0.1:18080"), "\(review)")
        #expect(!review.contains("engine.admin:"), "\(review)")
    }

    /// Answers kept by a run that did not finish give way to a flag of this run.
    @Test func aFlagReplacesTheAddressOfSavedAnswers() throws {
        var saved = try Self.installedTrial()
        saved.engine.admin = "127.0.0.1:15999"
        let context = Self.context(listen: nil, admin: "127.0.0.1:15000")
        let draft = WizardDraft(context: context, saved: saved)
        #expect(draft.configuration(context).engine.listen == saved.engine.listen)
        #expect(draft.configuration(context).engine.admin == "127.0.0.1:15000")
    }
}
