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
        if let https = configuration.engine.https {
            print("")
            for line in Self.httpsLines(https, configuration: configuration, plan: plan) { print(line) }
        }
        for (title, name) in sections {
            guard let file = plan.files.first(where: { $0.path == plan.layout.policyDirectory + "/" + name }) else {
                continue
            }
            print("\n== \(title): \(plan.layout.logical(file.path))\n")
            print(file.content, terminator: file.content.hasSuffix("\n") ? "" : "\n")
        }
    }

    /// What clients need for HTTPS: the same `DOCacheHost` name for both schemes, and trust in the CA that signed the
    /// node's certificate (named when one is installed).
    static func httpsLines(_ https: NodeConfiguration.HTTPS, configuration: NodeConfiguration, plan: InstallPlan)
        -> [String]
    {
        let names = CertificateRules.requiredNames(configuration, hostName: currentHostName())
        let port = ListenAddress(https.listen)?.port ?? 443
        var lines = [
            "HTTPS: the same DOCacheHost name serves both schemes: Intune Win32 apps and Teams content come over HTTPS "
                + "on port \(port), the rest over HTTP. The certificate covers \(names.joined(separator: ", "))."
        ]
        let installed = TLSFiles(https, layout: plan.layout).installedCertificate()
        if let installed {
            lines.append(
                "Clients must trust the CA that signed the node's certificate, \(installed.issuer) (or the root CA "
                    + "above it), as a trusted root: deploy it by Group Policy or Intune (the files below say where)."
            )
        } else {
            lines.append(
                "Clients must trust the CA that will sign the node's certificate (none is installed yet: cachenode "
                    + "cert request, then cachenode cert install), as a trusted root: deploy it by Group Policy or "
                    + "Intune (the files below say where)."
            )
        }
        return lines
    }
}
