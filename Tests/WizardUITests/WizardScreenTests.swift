import CacheNodeCore
import Testing
import WizardUI

/// Help, quitting, terminal sizes, re-runs and the rendering rules every screen keeps.
struct WizardScreenTests {
    @Test func helpOpensWithF1OrQuestionMarkAndAnyKeyCloses() throws {
        var wizard = Wizard(context: WizardFixtures.context())
        wizard.press(.char(" "), .enter)
        wizard.type("Help-1")
        wizard.press(.enter)
        #expect(wizard.step == .network)
        wizard.press(.f1)
        try expectSnapshot(wizard, "12-help-switch")
        wizard.press(.char("x"))
        #expect(wizard.overlay == nil)
        #expect(wizard.selection(.switchMode) == 0)
        wizard.press(.char("?"))
        #expect(wizard.overlay == .help)
    }

    @Test func quittingAsksFirst() throws {
        var wizard = Wizard(context: WizardFixtures.context())
        #expect(wizard.press(.char("q")) == .none)
        try expectSnapshot(wizard, "13-confirm-quit")
        #expect(wizard.press(.char("n")) == .none)
        #expect(wizard.overlay == nil)
        // In a text field, q is a letter; Ctrl-C asks.
        wizard.press(.char(" "), .enter)
        wizard.press(.char("q"))
        #expect(wizard.text(.nodeName).text == "q")
        wizard.press(.ctrlC)
        #expect(wizard.overlay == .confirmQuit)
        #expect(wizard.press(.char("y")) == .quit)
    }

    @Test func aTooSmallTerminalAsksToEnlargeAndIgnoresBlindKeys() throws {
        var wizard = Wizard(context: WizardFixtures.context())
        wizard.press(.resize(cols: 60, rows: 20))
        try expectSnapshot(wizard, "14-too-small")
        wizard.press(.char(" "), .enter)
        #expect(wizard.step == .welcome)
        #expect(!wizard.draft.continueAnyway)
        wizard.press(.resize(cols: 100, rows: 30))
        #expect(wizard.screen.contains("Welcome and hardware check"))
        wizard.press(.resize(cols: 70, rows: 30))
        wizard.press(.ctrlC)
        #expect(wizard.screen.contains("Quit setup? y quits."))
        #expect(wizard.press(.char("y")) == .quit)
    }

    @Test(arguments: [(80, 24), (100, 30), (132, 50), (200, 60)])
    func everyScreenFitsTheTerminal(cols: Int, rows: Int) {
        var wizard = Wizard(context: WizardFixtures.context(), cols: cols, rows: rows)
        var keys: [WizardKey] = [.char(" "), .enter]
        keys += "Fit-1".map { .char($0) } + [.enter, .down, .enter, .tab, .tab, .char(" "), .enter, .enter]
        keys += "10.0.0.60/24".map { .char($0) } + [.enter] + "10.0.0.1".map { .char($0) } + [.enter]
        keys += "10.0.0.2".map { .char($0) } + [.enter]
        keys += "http://proxy.example.lan:3128".map { .char($0) } + [.enter]
        keys += [.enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter]
        for key in keys {
            wizard.press(key)
            let screen = WizardRenderer.render(wizard)
            #expect(screen.lines.count == rows)
            #expect(screen.lines.allSatisfy { $0.text.count <= cols })
            #expect(screen.text.contains("step \(wizard.step.rawValue) of 11"))
        }
        #expect(wizard.step == .review)
    }

    @Test func aTrialProposesPort8080AndARealInstallPort80() {
        #expect(Wizard(context: WizardFixtures.context(isTrial: true)).draft.engine.listen == "0.0.0.0:8080")
        #expect(Wizard(context: WizardFixtures.context(isTrial: false)).draft.engine.listen == "0.0.0.0:80")
    }

    @Test func aReRunKeepsTheNameAndShowsEachChange() throws {
        let installed = NodeConfiguration(
            node: .init(name: "Seattle-1"),
            network: .init(
                switch: .init(mode: .existing, name: "br0"),
                address: .init(mode: .static, ip: "10.0.0.50/24", gateway: "10.0.0.1", dns: ["10.0.0.2"])
            ),
            storage: .init(drives: [.init(path: "/srv/cache", sizeGB: 200)]),
            resources: .init(memoryGB: 8, cores: 8, profile: "large"),
            hub: .init(mode: .create, name: "contoso-west"),
            engine: .init(listen: "0.0.0.0:80")
        )
        var wizard = Wizard(context: WizardFixtures.context(installed: installed, isTrial: false, isDryRun: false))
        wizard.press(.enter)
        #expect(wizard.step == .name)
        try expectSnapshot(wizard, "15-rerun-name-fixed")
        wizard.type("x")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .address)
        wizard.press(.tab)
        wizard.clearField()
        wizard.type("10.0.0.51/24")
        wizard.press(.enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .https)
        wizard.press(.enter)
        #expect(wizard.step == .review)
        try expectSnapshot(wizard, "16-rerun-review-changes")
        wizard.reviewSelection = Wizard.reviewSteps.count
        guard case .apply(let configuration) = wizard.press(.enter) else {
            Issue.record("Review did not hand over to apply")
            return
        }
        #expect(configuration.node.name == "Seattle-1")
        #expect(configuration.network.address.ip == "10.0.0.51/24")
        #expect(configuration.hub == .init(mode: .existing, name: "contoso-west"))
    }

    @Test func utf8PathsRenderAndClip() throws {
        var wizard = Wizard(context: WizardFixtures.context())
        wizard.press(.char(" "), .enter)
        wizard.type("Utf-1")
        wizard.press(.enter, .enter, .enter, .down, .enter, .enter, .enter)
        #expect(wizard.focusedField == .drivePath(0))
        wizard.clearField()
        wizard.type("/srv/caché-données")
        try expectSnapshot(wizard, "17-storage-utf8")
        let narrow = WizardRenderer.render(Wizard(context: WizardFixtures.context(), cols: 80, rows: 24))
        #expect(narrow.lines.allSatisfy { $0.text.count <= 80 })
    }

    /// At 80 columns nothing is cut: long values wrap at spaces, or a word too long for its column is shortened in
    /// the middle with an ellipsis.
    @Test func longValuesWrapOrAreShortenedInTheMiddleAt80Columns() throws {
        var facts = WizardFixtures.facts
        facts.storage?.path = "/tmp/hands/demo2/var/lib/cachenode"
        facts.os.kernel = "6.18.44-fc-v669"
        facts.interfaces[3].addresses = ["192.0.2.2/24", "198.51.100.20/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64"]
        var wizard = Wizard(context: WizardFixtures.context(facts: facts))
        try expectSnapshot(wizard, "20-welcome-long-root")
        let welcome = wizard.screen
        #expect(welcome.contains("\nFree disk at /tmp/han…/cachenode 500 GB "), "a row of the table is on one line")
        #expect(welcome.contains("kernel 6.18.44-fc-v669"))

        wizard.press(.char(" "), .enter)
        wizard.type("Long-1")
        wizard.press(.enter, .char("2"), .enter, .enter)
        #expect(wizard.focusedField == .adapter)
        let addresses = "192.0.2.2/24,198.51.100.20/24,fd00::2/64,fe80::fc:ff:fe00:1/64"
        #expect(wizard.screen.contains("    ( ) 2  eno2  1 Gbps, down,\n           \(addresses)\n"))

        // A path longer than its field: around the cursor while typed, shortened in the middle once left.
        let long = "/srv/" + Array(repeating: "very-long-directory-name", count: 4).joined(separator: "/") + "/cache"
        wizard.press(.enter, .enter, .char(" "), .enter, .char("2"), .enter, .enter)
        #expect(wizard.step == .storage)
        wizard.press(.enter)
        #expect(wizard.focusedField == .drivePath(0))
        wizard.clearField()
        wizard.type(long)
        var screen = WizardRenderer.render(wizard)
        let typing = try #require(screen.lines.first { $0.text.contains("Drive 1 path:") }).text
        #expect(typing.hasSuffix("very-long-directory-name/cache]"))
        #expect(typing.contains("[…"))
        #expect(screen.cursor?.col == typing.count - 1, "the cursor stays on screen, after the last character")
        wizard.press(.home)
        screen = WizardRenderer.render(wizard)
        #expect(try #require(screen.lines.first { $0.text.contains("Drive 1 path:") }).text.hasSuffix("…]"))
        #expect(screen.cursor?.col == 25)
        wizard.press(.tab)
        let left = WizardRenderer.render(wizard)
        let shortened = try #require(left.lines.first { $0.text.contains("Drive 1 path:") }).text
        #expect(shortened.hasPrefix("  Drive 1 path:         [/srv/very-long"))
        #expect(shortened.contains("…"))
        #expect(shortened.contains("/cache]"))
        // Review shows the whole path, broken after a `/` where it does not fit, no name cut in two.
        wizard.press(.enter, .enter, .enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .review)
        let review = wizard.screen
        #expect(review.components(separatedBy: "very-long-directory-name").count == 5, "\(review)")
        #expect(review.contains("/\n                "))
        for screen in [welcome, review] {
            #expect(screen.split(separator: "\n").allSatisfy { $0.count <= 80 })
        }
    }

    @Test func aBlockedMachineStopsOnTheWelcomeScreen() throws {
        var facts = WizardFixtures.facts
        facts.cores = 1
        var wizard = Wizard(context: WizardFixtures.context(facts: facts))
        try expectSnapshot(wizard, "18-welcome-blocked")
        wizard.press(.enter)
        #expect(wizard.step == .welcome)
        #expect(wizard.message == "This machine cannot run a cache node. Press q to quit.")
    }
}
