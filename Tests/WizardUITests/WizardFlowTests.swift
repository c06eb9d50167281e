import CacheNodeCore
import Testing
import WizardUI

/// The wizard walked key by key, as an administrator would, with the answers checked at the end.
struct WizardFlowTests {
    @Test func aFullWalkWithMistakesOnTheWayGivesTheExpectedConfiguration() throws {
        var wizard = Wizard(context: WizardFixtures.context())
        try expectSnapshot(wizard, "01-welcome")

        // Warnings need an explicit "continue anyway".
        wizard.press(.enter)
        #expect(wizard.step == .welcome)
        #expect(wizard.screen.contains("error: tick it with Space to go on despite the warnings"))
        wizard.press(.char(" "), .enter)
        #expect(wizard.step == .name)

        // A bad name is refused as it is typed, with the rule shown.
        wizard.type("Seattle 1")
        try expectSnapshot(wizard, "02-name-invalid")
        wizard.press(.enter)
        #expect(wizard.step == .name)
        wizard.press(.backspace, .backspace)
        wizard.type("-1")
        #expect(!wizard.screen.contains("error:"))
        wizard.press(.enter)
        #expect(wizard.step == .network)

        // Existing switch: the second bridge, picked by its number.
        wizard.press(.enter, .char("2"))
        try expectSnapshot(wizard, "03-switch-existing")
        wizard.press(.enter)
        #expect(wizard.step == .address)

        // Static address with a gateway outside the subnet.
        wizard.press(.enter)
        wizard.type("10.0.0.60/24")
        wizard.press(.enter)
        wizard.type("10.0.1.1")
        wizard.press(.enter)
        wizard.type("10.0.0.2, 10.0.0.3")
        wizard.press(.enter)
        #expect(wizard.focusedField == .upstreamProxy)
        wizard.press(.enter)
        #expect(wizard.step == .address)
        #expect(wizard.focusedField == .gateway)
        try expectSnapshot(wizard, "04-address-gateway-outside")
        wizard.clearField()
        wizard.type("10.0.0.1")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .storage)

        // A drive larger than the free space.
        wizard.press(.enter, .enter)
        #expect(wizard.focusedField == .driveSize(0))
        wizard.clearField()
        wizard.type("600")
        wizard.press(.enter)
        #expect(wizard.step == .storage)
        try expectSnapshot(wizard, "05-storage-too-large")
        wizard.clearField()
        wizard.type("300")
        wizard.press(.enter)
        #expect(wizard.step == .resources)

        // Memory beyond the machine is refused; below the profile needs "continue anyway".
        wizard.press(.enter)
        wizard.clearField()
        wizard.type("99")
        // The machine reports 64 GB: the limit shown and the one enforced are what it has, never more.
        #expect(wizard.rule(.memory) == "whole GB, at most 64")
        #expect(
            wizard.visibleErrors(.resources)[.memory] == "99 GB is more than the memory of this machine (at most 64)"
        )
        wizard.clearField()
        wizard.type("65")
        #expect(wizard.visibleErrors(.resources)[.memory] != nil)
        wizard.clearField()
        wizard.type("64")
        #expect(wizard.visibleErrors(.resources)[.memory] == nil)
        wizard.clearField()
        wizard.type("4")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .resources)
        #expect(wizard.focusedField == .belowProfileAccepted)
        try expectSnapshot(wizard, "06-resources-below-profile")
        wizard.press(.char(" "), .enter)
        #expect(wizard.step == .hub)

        // An existing hub from the list.
        wizard.press(.enter, .down)
        wizard.press(.enter)
        #expect(wizard.step == .https)

        // HTTPS stays off.
        wizard.press(.enter)
        #expect(wizard.step == .review)
        try expectSnapshot(wizard, "07-review")

        // Back from Review to the address: the focus is on the step's first field, so a digit picks DHCP.
        wizard.press(.char("4"))
        #expect(wizard.step == .address)
        #expect(wizard.focusedField == .addressMode)
        wizard.press(.char("2"))
        #expect(wizard.draft.addressMode == .dhcp)
        #expect(wizard.text(.upstreamProxy).isEmpty)
        wizard.press(.enter, .enter)
        #expect(wizard.step == .review)
        wizard.press(.down, .down, .down, .down, .down, .down, .down, .down)
        let action = wizard.press(.enter)
        let expected = NodeConfiguration(
            node: .init(name: "Seattle-1"),
            network: .init(switch: .init(mode: .existing, name: "docker0"), address: .dhcp),
            storage: .init(drives: [.init(path: "/srv/cache", sizeGB: 300)]),
            resources: .init(memoryGB: 4, cores: 8, profile: "large"),
            hub: .init(mode: .existing, name: "fabrikam"),
            engine: .init(listen: "0.0.0.0:8080")
        )
        #expect(action == .finish(expected))
    }

    @Test func theOtherBranchesCreateASwitchAndAHub() {
        var wizard = Wizard(context: WizardFixtures.context(hubs: ["contoso-west"]))
        wizard.press(.char(" "), .enter)
        wizard.type("Branch-7")
        wizard.press(.enter)

        // Create a switch: its name must not exist; the adapter from the list; the restart warning ticked.
        wizard.press(.down)
        #expect(wizard.fields(.network) == [.switchMode, .newSwitch, .adapter, .restartUnderstood])
        wizard.press(.enter)
        #expect(wizard.text(.newSwitch).text == "br1")
        wizard.clearField()
        wizard.type("br0")
        #expect(wizard.screen.contains("error: 'br0' already exists on this machine"))
        wizard.clearField()
        wizard.type("br9")
        wizard.press(.enter, .char("2"), .enter)
        #expect(wizard.screen.contains("warning: creating br9 restarts the network on eno2;"))
        wizard.press(.enter)
        #expect(wizard.step == .network)
        wizard.press(.char("y"), .enter)
        #expect(wizard.step == .address)

        // Dynamic address, through a proxy: a URL without its scheme is refused, the password never shown.
        wizard.press(.down, .enter)
        #expect(wizard.focusedField == .upstreamProxy)
        wizard.type("proxy.school.lan:3128")
        wizard.press(.enter)
        #expect(wizard.step == .address)
        #expect(wizard.visibleErrors(.address)[.upstreamProxy] != nil)
        wizard.clearField()
        wizard.type("http://cache:pa55@proxy.school.lan:3128")
        wizard.press(.enter)
        #expect(wizard.step == .storage)
        wizard.press(.tab, .tab, .tab, .enter)
        #expect(wizard.focusedField == .drivePath(1))
        wizard.type("/srv/more")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .resources)
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .hub)

        // A new hub: the naming rule enforced, and a name that exists refused.
        wizard.press(.char("2"), .enter)
        wizard.type("Microsoft-Hub")
        #expect(wizard.screen.contains("error: 'Microsoft-Hub' contains \"microsoft\""))
        wizard.clearField()
        wizard.type("contoso-west")
        #expect(wizard.screen.contains("a hub named 'contoso-west' already exists"))
        wizard.clearField()
        wizard.type("contoso-east")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .review)
        #expect(wizard.screen.contains("dynamic (DHCP); upstream proxy"))
        #expect(wizard.screen.contains("http://cache:****@proxy.school.lan:3128"))
        #expect(!wizard.screen.contains("pa55"))
        wizard.press(.up)
        wizard.reviewSelection = Wizard.reviewSteps.count
        let action = wizard.press(.enter)
        guard case .finish(let configuration) = action else {
            Issue.record("expected the dry run to finish, got \(action)")
            return
        }
        #expect(configuration.network.switch == .init(mode: .create, name: "br9", adapter: "eno2"))
        #expect(configuration.network.address == .dhcp)
        #expect(configuration.engine.upstreamProxy == "http://cache:pa55@proxy.school.lan:3128")
        #expect(
            configuration.storage.drives == [
                .init(path: "/srv/cache", sizeGB: 200), .init(path: "/srv/more", sizeGB: 200),
            ]
        )
        #expect(configuration.hub == .init(mode: .create, name: "contoso-east"))
    }

    @Test func aDriveIsJudgedByTheProfileChosenAfterIt() {
        var wizard = Wizard(context: WizardFixtures.context())
        wizard.press(.char(" "), .enter)
        wizard.type("Small-1")
        wizard.press(.enter, .enter, .enter, .down, .enter, .enter, .enter, .enter)
        #expect(wizard.focusedField == .driveSize(0))
        wizard.clearField()
        wizard.type("60")
        wizard.press(.enter)
        #expect(wizard.step == .resources)
        // The machine fits the large profile (200 GB per drive): refused until branch is picked.
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .resources)
        #expect(
            wizard.visibleErrors(.resources)[.profile]?.hasPrefix("drive 1 has 60 GB, below the 200 GB per drive")
                == true
        )
        #expect(wizard.focusedField == .profile)
        wizard.press(.char("1"), .enter, .enter, .enter)
        #expect(wizard.step == .hub)
    }

    /// A trial installed from `Resources/answers/trial.yaml` reconfigures as it is: its `test` profile is offered and
    /// chosen, and its 1 GB drive is judged by that profile, as `setup --answers` judged it.
    @Test func aReRunOfATrialKeepsItsTestProfileAndItsSmallDrive() throws {
        let text = try String(
            contentsOf: WizardFixtures.repository.appendingPathComponent("Resources/answers/trial.yaml"),
            encoding: .utf8
        )
        let installed = try AnswerFile.load(text, sizing: WizardFixtures.sizing)
        var wizard = Wizard(context: WizardFixtures.context(installed: installed, isDryRun: false))
        #expect(wizard.options(.profile).map(\.value) == ["test", "branch", "large"])
        #expect(wizard.draft.chosenProfile(wizard.context)?.id == "test")
        wizard.press(.enter, .enter, .enter, .enter, .enter, .enter)
        #expect(wizard.step == .storage)
        #expect(wizard.stepErrors(.storage).isEmpty, "\(wizard.stepErrors(.storage))")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .resources)
        #expect(wizard.stepErrors(.resources).isEmpty, "\(wizard.stepErrors(.resources))")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .hub)
        // What the wizard would install is what the answer file installed, and the answer file's rules accept it.
        let configuration = wizard.draft.configuration(wizard.context)
        #expect(configuration.resources.profile == "test")
        #expect(configuration.storage.drives.map(\.sizeGB) == [1])
        #expect(configuration.validate(sizing: WizardFixtures.sizing).filter { !$0.keyPath.hasPrefix("hub.") } == [])
        // A new install is offered only the profiles people choose from.
        #expect(Wizard(context: WizardFixtures.context()).options(.profile).map(\.value) == ["branch", "large"])
    }

    @Test func aNodeNameTakenInTheChosenHubIsRefused() {
        var wizard = Wizard(
            context: WizardFixtures.context(hubs: ["contoso-west"], nodesByHub: ["contoso-west": ["Seattle-1"]])
        )
        wizard.press(.char(" "), .enter)
        wizard.type("seattle-1")
        wizard.press(
            .enter,
            .enter,
            .enter,
            .down,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter
        )
        #expect(wizard.step == .hub)
        #expect(
            wizard.visibleErrors(.hub)[.existingHub]
                == "hub 'contoso-west' already has a node named 'seattle-1' (a name is unique in its hub)"
        )
    }

    @Test func nothingTypedIsLostGoingBackAndForth() {
        var wizard = Wizard(context: WizardFixtures.context())
        wizard.press(.char(" "), .enter)
        wizard.type("Keep-Me")
        wizard.press(.enter, .enter, .enter)
        #expect(wizard.step == .address)
        wizard.press(.enter)
        wizard.type("10.0.0.70/24")
        // Esc goes back twice; the name is still there, and so is the half-typed address.
        wizard.press(.escape, .escape)
        #expect(wizard.step == .name)
        #expect(wizard.text(.nodeName).text == "Keep-Me")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .address)
        #expect(wizard.text(.ip).text == "10.0.0.70/24")
        // DHCP and back to static keeps the static answers.
        wizard.press(.backTab, .down, .up)
        #expect(wizard.text(.ip).text == "10.0.0.70/24")
        // Backspace on an empty field goes back a step.
        wizard.press(.tab, .tab)
        #expect(wizard.focusedField == .gateway)
        wizard.press(.backspace)
        #expect(wizard.step == .network)
    }

    @Test func anApplyIsFedProgressAndEndsOnDone() throws {
        var wizard = Wizard(context: WizardFixtures.context(hubs: [], isDryRun: false))
        wizard.press(.char(" "), .enter)
        wizard.type("Seattle-1")
        wizard.press(
            .enter,
            .enter,
            .enter,
            .down,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter,
            .enter
        )
        wizard.type("contoso-west")
        wizard.press(.enter, .enter)
        #expect(wizard.step == .review)
        wizard.reviewSelection = Wizard.reviewSteps.count
        guard case .apply = wizard.press(.enter) else {
            Issue.record("Review did not hand over to apply")
            return
        }
        #expect(wizard.step == .apply)
        for step in ["render templates", "write files", "network", "firewall"] {
            wizard.record(.started(step))
            wizard.record(.finished(step, detail: "done"))
        }
        wizard.record(.started("start the engine"))
        try expectSnapshot(wizard, "09-apply-running")
        wizard.record(.finished("start the engine", detail: "pid 4242"))
        wizard.finishApply(
            .installed(cacheHost: "10.0.0.50:8080", policyDirectory: "/tmp/root/var/lib/cachenode/policy", warnings: [])
        )
        try expectSnapshot(wizard, "10-done")
        #expect(
            wizard.press(.enter)
                == .exit(
                    .installed(
                        cacheHost: "10.0.0.50:8080",
                        policyDirectory: "/tmp/root/var/lib/cachenode/policy",
                        warnings: []
                    )
                )
        )
    }

    @Test func aFailedApplyShowsTheStepAndTheRollback() throws {
        var wizard = Wizard(context: WizardFixtures.context(isDryRun: false))
        wizard.step = .apply
        wizard.record(.started("render templates"))
        wizard.record(.finished("render templates", detail: "9 files"))
        wizard.record(.started("start the engine"))
        wizard.record(.failed("start the engine", detail: "the engine exited at once"))
        wizard.record(.rollingBack)
        wizard.record(.rolledBack(problems: []))
        wizard.finishApply(
            .failed(
                step: "start the engine",
                message: "start the engine failed: the engine exited at once",
                exitCode: 4
            )
        )
        try expectSnapshot(wizard, "11-done-failed")
    }
}
