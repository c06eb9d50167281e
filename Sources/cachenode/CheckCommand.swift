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
        let facts = SystemHostProbe(root: hostRoot).facts(storagePath: storage, listen: listen)
        let address = ListenAddress(listen)?.address.flatMap { $0.scope == .unspecified ? nil : $0 }
        let check = HostCheck(facts: facts, sizing: sizing, address: address)
        let target = profile?.rawValue ?? check.fittingProfile ?? sizing.offered.first?.id ?? ""
        if json {
            print(try CheckReport(check: check, profile: target, storage: storage).json())
        } else {
            print(CheckTable.render(check, sizing: sizing, target: target, storage: storage), terminator: "")
        }
        if check.isBlocked {
            throw CommandFailure(.blocked, "")
        }
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

    init(check: HostCheck, profile: String, storage: String) {
        self.profile = profile
        self.storage = storage
        blocked = check.isBlocked
        fittingProfile = check.fittingProfile
        rows = check.rows
    }

    enum CodingKeys: String, CodingKey {
        case profile, storage, blocked, rows
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
