import ArgumentParser
import CacheNodeCore
import Foundation
import Installer
import Management

struct DiagnosticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnostics",
        abstract: "Write a support bundle: configuration, manifests, status, host check and recent logs.",
        discussion: "Keys, tokens and passwords are redacted. Prints the path of the bundle it wrote."
    )

    @OptionGroup var install: InstallOptions

    @Option(help: "Where to write the bundle.")
    var output: String = "."

    @Option(help: "How many lines of the engine log and of the access log to include.")
    var logLines: Int = 2000

    @Option(help: .hidden)
    var hostRoot: String = "/"

    func validate() throws {
        guard logLines > 0 else { throw ValidationError("--log-lines must be a positive number") }
    }

    func run() async throws {
        let resources = try InstallFlow.resources()
        let layout = install.layout
        let absoluteRoot = layout.root
        let node = try install.find()
        var bundle = SupportBundle()

        var summary = "CacheNode support bundle\n"
        summary += "version: \(CacheNodeVersion.current)\n"
        summary += "created: \(ISO8601DateFormatter().string(from: Date()))\n"
        summary += "host: \(currentHostName())\n"
        summary += "root: \(absoluteRoot)\nstate: \(install.state)\n"
        summary += "node: \(node?.configuration.node.name ?? "(not installed)")\n"
        bundle.add("summary.txt", summary)

        bundle.addFile("configuration/cachenode.yaml", from: layout.configuration)
        bundle.addFile("configuration/answers.yaml", from: layout.answers)
        bundle.addFile("configuration/hub-link.json", from: HubLink.fileName(in: layout.stateDirectory))
        bundle.addFile("configuration/hub-link.status.json", from: HubLink.statusFileName(in: layout.stateDirectory))
        bundle.addFile("install-manifest.json", from: layout.installManifest)
        bundle.addFile("deployment.json", from: layout.deploymentManifest)

        if let node {
            let status = await NodeStatusReport.gather(layout: layout, configuration: node.configuration)
            bundle.add("status.txt", status.render() + "\n")
            if let data = try? EngineStatus.encoder.encode(status) {
                bundle.add("status.json", String(decoding: data, as: UTF8.self) + "\n")
            }
        } else {
            bundle.add("status.txt", "no CacheNode install found under \(absoluteRoot) (state \(install.state))\n")
        }

        let storage = node?.configuration.storage.drives.first.map { layout.onDisk($0.path) } ?? layout.stateDirectory
        let facts = SystemHostProbe(root: hostRoot).facts(storagePath: storage, listen: nil)
        let check = HostCheck(
            facts: facts,
            sizing: resources.sizing,
            address: node?.configuration.servingAddress,
            adapter: node?.configuration.network.switch.adapter
        )
        let target =
            node?.configuration.resources.profile ?? check.fittingProfile ?? resources.sizing.offered.first?.id ?? ""
        bundle.add(
            "host-check.txt",
            CheckTable.render(check, sizing: resources.sizing, target: target, storage: storage)
        )
        bundle.add("system.txt", Self.systemText(hostRoot: hostRoot))

        if layout.isRealInstall {
            // The real unit: what systemd runs and says of it, and its journal.
            bundle.addFile("configuration/cachenode.service", from: layout.unit)
            let runner = SystemCommandRunner()
            bundle.add(
                "service.txt",
                await runner.run(["systemctl", "status", "--no-pager", "--full", ServiceState.unit]).output
            )
            bundle.add(
                "logs/journal.log",
                await runner.run(["journalctl", "--no-pager", "--unit", ServiceState.unit, "--lines", "\(logLines)"])
                    .output
            )
        }
        bundle.addTail("logs/engine.log", of: layout.engineLog, lines: logLines)
        bundle.addTail("logs/access.log", of: layout.accessLog, lines: logLines)

        do {
            print(try await bundle.write(to: output))
        } catch {
            throw CommandFailure(.failure, "cannot write the support bundle: \(error)")
        }
    }

    /// The operating system and kernel, as the probe reads them.
    static func systemText(hostRoot: String) -> String {
        let prefix = hostRoot == "/" ? "" : hostRoot
        var text = ""
        for file in ["/etc/os-release", "/proc/version", "/proc/meminfo", "/proc/loadavg"] {
            text += "== \(file)\n"
            if let data = FileManager.default.contents(atPath: prefix + file) {
                text += String(decoding: data.prefix(8192), as: UTF8.self)
            } else {
                text += "(not readable)\n"
            }
            text += "\n"
        }
        return text
    }
}
