import ArgumentParser
import CacheNodeCore
import Foundation
import Installer

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check this machine against the sizing profiles.",
        discussion: """
            One row per requirement, each judged against every profile as pass, warning or blocking, \
            with the measured value beside the required one. Exit status 3 when something blocks an install.
            """
    )

    @Option(help: "The profile you plan to install (\(ProfileChoice.allValueStrings.joined(separator: ", "))).")
    var profile: ProfileChoice?

    @Option(help: "Where the cache and state will live; free space and disk type are measured there.")
    var storage: String = NodeConfiguration.Storage.defaultState

    @Option(help: "The engine's listen address; the check tells whether its port is free.")
    var listen: String = NodeConfiguration.Engine.defaultListen

    @Flag(help: "Print JSON for scripts.")
    var json = false

    @Flag(
        help: ArgumentHelp(
            "Check the network too: the address is free, the gateway answers, DNS resolves the Delivery Optimization hosts, the proxy forwards, the listen port.",
            discussion:
                "The address, gateway, DNS servers and proxy come from --answers, else from the installed node, else from this machine."
        )
    )
    var network = false

    @Option(help: "With --network: the answer file whose network to check.")
    var answers: String?

    @Option(help: "With --network: seconds each network check waits at most.")
    var networkTimeout: Int = 2

    @Option(help: .hidden)
    var hostRoot: String = "/"

    func run() throws {
        let sizing = try ResourceLocator.sizingTable()
        guard ListenAddress(listen) != nil else {
            throw CommandFailure(.invalid, "--listen: '\(listen)' is not address:port (as 0.0.0.0:80)")
        }
        guard PathRules.problem(storage) == nil else {
            throw CommandFailure(.invalid, "--storage: '\(storage)' is not an absolute path")
        }
        guard (1...30).contains(networkTimeout) else {
            throw CommandFailure(.invalid, "--network-timeout: \(networkTimeout) is not 1 to 30 seconds")
        }
        let configuration = try networkConfiguration(sizing: sizing)
        let facts = SystemHostProbe(root: hostRoot).facts(storagePath: storage, listen: listen)
        let address =
            configuration?.servingAddress
            ?? ListenAddress(listen)?.address.flatMap { $0.scope == .unspecified ? nil : $0 }
        let check = HostCheck(
            facts: facts,
            sizing: sizing,
            address: address,
            adapter: configuration?.network.switch.adapter
        )
        let target = profile?.rawValue ?? check.fittingProfile ?? sizing.offered.first?.id ?? ""
        var networkChecks: [NetworkCheck]?
        if network {
            let checked = configuration ?? Self.thisMachine(facts: facts, listen: listen)
            let password =
                getenv(ProxySecret.environmentVariable).map { String(cString: $0) }
                ?? checked.engine.upstreamProxyPasswordFile.flatMap { try? TextFile.read($0) }?.trimmingCharacters(
                    in: .newlines
                )
            networkChecks = NetworkChecker(timeoutSeconds: networkTimeout).run(
                checked,
                facts: facts,
                proxyPassword: password
            )
        }
        if json {
            print(try CheckReport(check: check, profile: target, storage: storage, network: networkChecks).json())
        } else {
            print(CheckTable.render(check, sizing: sizing, target: target, storage: storage), terminator: "")
            if let networkChecks { print("\n" + NetworkTable.render(networkChecks), terminator: "") }
        }
        if check.isBlocked {
            throw CommandFailure(.blocked, "")
        }
    }
}

extension CheckCommand {
    /// The configuration whose network `--network` checks: `--answers`, else the installed node's.
    func networkConfiguration(sizing: SizingTable) throws -> NodeConfiguration? {
        if let answers { return try AnswerFileInput.load(answers, sizing: sizing) }
        guard network else { return nil }
        return try? InstalledNode.find(root: "/", state: NodeConfiguration.Storage.defaultState, sizing: sizing)?
            .configuration
    }

    /// This machine as it is: its default-route interface with the address it has by DHCP or by hand.
    static func thisMachine(facts: HostFacts, listen: String) -> NodeConfiguration {
        NodeConfiguration(
            node: .init(name: "this-machine"),
            network: .init(
                switch: .init(mode: .existing, name: facts.defaultRouteInterfaces.first ?? "-"),
                address: .init(mode: .dhcp)
            ),
            storage: .init(drives: []),
            resources: .init(memoryGB: 1, cores: 1),
            hub: .init(mode: .create, name: "-"),
            engine: .init(listen: listen)
        )
    }
}

/// The network checks as lines: result, what was checked, what was seen, and how long the check waits at most.
enum NetworkTable {
    static func render(_ checks: [NetworkCheck]) -> String {
        var out = "Network (each check gives up after its timeout):\n"
        for check in checks {
            let waits = check.timeoutSeconds > 0 ? " (timeout \(check.timeoutSeconds) s)" : ""
            out += "  \(check.status == .pass ? "PASS" : "WARN")  \(check.title): \(check.detail)\(waits)\n"
        }
        let warnings = checks.filter { $0.status == .warning }.count
        out +=
            warnings == 0
            ? "Every network check passes.\n"
            : "\(warnings) network warning\(warnings == 1 ? "" : "s"): read them before you install; none stops an install.\n"
        return out
    }
}

enum ProfileChoice: String, ExpressibleByArgument, CaseIterable {
    case branch
    case large
}

/// The `--json` form of the check.
struct CheckReport: Encodable {
    var profile: String
    var storage: String
    var blocked: Bool
    var fittingProfile: String?
    var rows: [CheckRow]
    var network: [NetworkCheck]?

    init(check: HostCheck, profile: String, storage: String, network: [NetworkCheck]? = nil) {
        self.profile = profile
        self.storage = storage
        blocked = check.isBlocked
        fittingProfile = check.fittingProfile
        rows = check.rows
        self.network = network
    }

    enum CodingKeys: String, CodingKey {
        case profile, storage, blocked, rows, network
        case fittingProfile = "fitting_profile"
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The check as an aligned text table.
enum CheckTable {
    static func render(_ check: HostCheck, sizing: SizingTable, target: String, storage: String) -> String {
        var header = ["REQUIREMENT", "MEASURED"]
        for id in check.profiles {
            header.append((sizing.profile(named: id)?.id ?? id).uppercased() + (id == target ? " *" : ""))
        }
        var table = [header]
        for row in check.rows {
            var cells = [row.title, row.measured]
            for id in check.profiles {
                let verdict = row.verdict(for: id)
                cells.append(verdict.map { "\($0.status.rawValue.uppercased()) (needs \($0.required))" } ?? "-")
            }
            table.append(cells)
        }
        let widths = (0..<header.count).map { column in
            min(table.map { $0[column].count }.max() ?? 0, column == 0 ? 34 : 60)
        }
        var out = ""
        for row in table {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        let notes = check.rows.compactMap { row in row.note.map { "  \(row.title): \($0)" } }
        if !notes.isEmpty {
            out += "\nNotes:\n" + notes.joined(separator: "\n") + "\n"
        }
        let verdicts = check.rows.compactMap { $0.verdict(for: target)?.status }
        let warnings = verdicts.filter { $0 == .warning }.count
        out += "\n"
        if check.isBlocked {
            out += "Result: BLOCKED. This machine cannot run a cache node:\n"
            out += check.blockingReasons.map { "  - \($0)" }.joined(separator: "\n") + "\n"
        } else if warnings > 0 {
            out += "Result for the \(target) profile: \(warnings) warning\(warnings == 1 ? "" : "s"), nothing blocks.\n"
        } else {
            out += "Result for the \(target) profile: every requirement passes.\n"
        }
        if let fitting = check.fittingProfile {
            out += "Fits the \(fitting) profile.\n"
        } else {
            out += "Fits no profile fully; * marks the profile judged.\n"
        }
        return out
    }
}
