import ArgumentParser
import CacheNodeCore
import Installer

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Print the client policy that points Windows devices at this node, ready to paste.",
        discussion: "The same files are kept in <state>/policy/ by setup."
    )

    @OptionGroup var install: InstallOptions

    @Option(help: "An answer file to work from instead of the installed configuration.")
    var config: String?

    func run() throws {
        let resources = try InstallFlow.resources()
        let configuration: NodeConfiguration
        if let config {
            configuration = try AnswerFileInput.load(config, sizing: resources.sizing)
        } else if let node = try install.find() {
            configuration = node.configuration
        } else {
            throw CommandFailure(
                .failure,
                "no CacheNode install found under \(install.layout.root) (state \(install.state)); pass --config FILE"
            )
        }
        let planner = InstallPlanner(
            templates: resources.templates,
            policy: resources.policy,
            binary: InstallFlow.binaryPath(),
            hostName: currentHostName(),
            version: CacheNodeVersion.current
        )
        let plan: InstallPlan
        do { plan = try planner.plan(configuration, root: install.layout.root) } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        let sections: [(String, String)] = [
            ("Registry file (import with regedit)", "DOCacheHost.reg"),
            ("Command line (run as administrator)", "reg-add.cmd"),
            ("Intune (custom OMA-URI profile)", "intune.txt"),
            ("Group Policy", "group-policy.txt"),
            ("DHCP option 235 for dnsmasq", "dnsmasq-option235.conf"),
            ("DHCP option 235 for ISC dhcpd", "dhcpd-option235.conf"),
        ]
        print("DOCacheHost: \(plan.cacheHost)")
        if let port = ListenAddress(configuration.engine.listen)?.port, port != 80 {
            print(
                "warning: Windows clients reach a cache host on port 80 only. This node listens on port \(port), so "
                    + "clients given \(plan.cacheHost) do not use it: set engine.listen to port 80, or give clients a "
                    + "proxy on port 80 in front (each file below says so too)."
            )
        }
        print(
            "Recommended: DelayCacheServerFallbackForeground \(resources.policy.fallbackForegroundSeconds) s, "
                + "DelayCacheServerFallbackBackground \(resources.policy.fallbackBackgroundSeconds) s"
        )
        for (title, name) in sections {
            guard let file = plan.files.first(where: { $0.path == plan.layout.policyDirectory + "/" + name }) else {
                continue
            }
            print("\n== \(title): \(plan.layout.logical(file.path))\n")
            print(file.content, terminator: file.content.hasSuffix("\n") ? "" : "\n")
        }
    }
}
