import Foundation
import Testing

@Suite(.serialized)
struct HubNodeCommandsTests {
    static func withRoot(_ body: (String) throws -> Void) rethrows {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hubcli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try body(root)
    }

    @Test func hubsFollowTheNamingRuleAndAreListed() throws {
        try Self.withRoot { root in
            let created = try CLIRunner.run(["hub", "create", "contoso-west", "--root", root])
            #expect(created.status == 0)
            #expect(created.stdout == "Created hub contoso-west.\n")
            let refused = try CLIRunner.run(["hub", "create", "MicroSoft-West", "--root", root])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("microsoft"))
            let again = try CLIRunner.run(["hub", "create", "contoso-west", "--root", root])
            #expect(again.status == 2)
            #expect(again.stderr == "hub contoso-west already exists\n")
            let list = try CLIRunner.run(["hub", "list", "--root", root])
            #expect(list.status == 0)
            #expect(list.stdout.hasPrefix("HUB           NODES  CREATED\ncontoso-west  0      "))
        }
    }

    @Test func nodesAreUniqueInTheirHubAndDeletingAsksForTheName() throws {
        try Self.withRoot { root in
            _ = try CLIRunner.run(["hub", "create", "contoso-west", "--root", root])
            let created = try CLIRunner.run(["node", "create", "Seattle-1", "--hub", "contoso-west", "--root", root])
            #expect(created.status == 0)
            #expect(created.stdout.hasPrefix("Created node Seattle-1 in hub contoso-west.\nOne-time enrolment key: "))
            let duplicate = try CLIRunner.run(["node", "create", "seattle-1", "--hub", "contoso-west", "--root", root])
            #expect(duplicate.status == 2)
            #expect(duplicate.stderr.contains("node names are unique in their hub"))
            let noHub = try CLIRunner.run(["node", "create", "Tacoma-1", "--hub", "nowhere", "--root", root])
            #expect(noHub.status == 2)

            let wrongName = try CLIRunner.run(
                ["node", "delete", "Seattle-1", "--hub", "contoso-west", "--root", root],
                stdin: "Seattle-2\n"
            )
            #expect(wrongName.status == 1)
            #expect(wrongName.stdout.contains("irreversible"))
            #expect(wrongName.stderr == "the name did not match; nothing was deleted\n")
            #expect(try CLIRunner.run(["node", "list", "--root", root]).stdout.contains("Seattle-1"))

            let typed = try CLIRunner.run(
                ["node", "delete", "Seattle-1", "--hub", "contoso-west", "--root", root],
                stdin: "Seattle-1\n"
            )
            #expect(typed.status == 0)
            #expect(typed.stdout.hasSuffix("Deleted node Seattle-1 of hub contoso-west.\n"))
            #expect(!(try CLIRunner.run(["node", "list", "--root", root]).stdout.contains("Seattle-1")))

            _ = try CLIRunner.run(["node", "create", "Tacoma-1", "--hub", "contoso-west", "--root", root])
            let scripted = try CLIRunner.run([
                "node", "delete", "Tacoma-1", "--hub", "contoso-west", "--yes", "--root", root,
            ])
            #expect(scripted.status == 0)
            #expect(scripted.stdout == "Deleted node Tacoma-1 of hub contoso-west.\n")
        }
    }

    @Test func policyPrintsEverythingAnAdministratorPastes() throws {
        let result = try CLIRunner.run(["policy", "--config", "Resources/answers/branch-static.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        let output = result.stdout
        #expect(output.hasPrefix("DOCacheHost: 10.0.0.50\n"))
        #expect(output.contains("DelayCacheServerFallbackForeground 60 s, DelayCacheServerFallbackBackground 600 s"))
        #expect(
            output.contains(
                #"reg add "HKLM\SOFTWARE\Policies\Microsoft\Windows\DeliveryOptimization" /v DOCacheHost /t REG_SZ /d "10.0.0.50" /f"#
            )
        )
        #expect(output.contains("./Vendor/MSFT/Policy/Config/DeliveryOptimization/DOCacheHost"))
        #expect(output.contains("Computer Configuration"))
        #expect(output.contains(#"dhcp-option-force=235,"10.0.0.50""#))
        #expect(output.contains("option"))
    }

    /// A node on a port other than 80 is not reached by Windows clients: the output and every policy file say so,
    /// and a node on port 80 gets no such note.
    @Test func policyForANodeOffPort80SaysClientsUsePort80Only() throws {
        let trial = try CLIRunner.run(["policy", "--config", "Resources/answers/trial.yaml"])
        #expect(trial.status == 0, "\(trial.stderr)")
        let lines = trial.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "DOCacheHost: 127.0.0.1:8080")
        #expect(
            lines.dropFirst().first
                == "warning: Windows clients reach a cache host on port 80 only. This node listens on port 8080, so "
                + "clients given 127.0.0.1:8080 do not use it: set engine.listen to port 80, or give clients a proxy on "
                + "port 80 in front (each file below says so too)."
        )
        let sections = trial.stdout.components(separatedBy: "\n== ").dropFirst()
        #expect(sections.count == 6)
        for section in sections {
            #expect(
                section.contains("Windows clients reach a cache host on port 80 only. This node listens on port 8080"),
                "\(section)"
            )
        }
        let branch = try CLIRunner.run(["policy", "--config", "Resources/answers/branch-static.yaml"])
        #expect(branch.status == 0, "\(branch.stderr)")
        #expect(!branch.stdout.contains("port 80 only"))
    }

    @Test func policyWithoutAnInstallOrAFileSaysWhatToPass() throws {
        try Self.withRoot { root in
            let result = try CLIRunner.run(["policy", "--root", root])
            #expect(result.status == 1)
            #expect(result.stderr.hasSuffix("pass --config FILE\n"))
        }
    }
}
