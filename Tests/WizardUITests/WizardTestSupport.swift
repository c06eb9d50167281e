import CacheNodeCore
import Foundation
import Testing
import WizardUI

/// A fixed machine, sizing table and snapshot files for the wizard tests.
enum WizardFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Snapshots"
    )

    static let sizing: SizingTable = {
        do {
            let text = try String(
                contentsOf: repository.appendingPathComponent("Resources/sizing.yaml"),
                encoding: .utf8
            )
            return try SizingTable(yaml: text)
        } catch {
            fatalError("Resources/sizing.yaml does not load: \(error)")
        }
    }()

    /// Like the server-bridge fixture: 16 cores, 64 GB, two NICs (eno1 in br0), bridges br0 and docker0.
    static let facts = HostFacts(
        cores: 16,
        memoryBytes: 64_000_000_000,
        storage: .init(
            path: "/var/lib/cachenode",
            freeBytes: 500_000_000_000,
            totalBytes: 900_000_000_000,
            device: "nvme0n1",
            rotational: false
        ),
        interfaces: [
            .init(name: "br0", state: "up", isBridge: true, bridgeMembers: ["eno1"], addresses: ["10.0.0.50/24"]),
            .init(name: "docker0", state: "down", isBridge: true),
            .init(name: "eno1", speedMbps: 10_000, state: "up", isPhysical: true, bridge: "br0"),
            .init(name: "eno2", speedMbps: 1_000, state: "down", isPhysical: true),
        ],
        os: .init(id: "debian", versionID: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64")
    )

    /// Free space: 500 GB SSD everywhere, 40 GB under /small.
    static let measure: @Sendable (String) -> HostFacts.Storage? = { path in
        let free: Int64 = path.hasPrefix("/small") ? 40_000_000_000 : 500_000_000_000
        return .init(path: path, freeBytes: free, totalBytes: 900_000_000_000, device: "nvme0n1", rotational: false)
    }

    static func context(
        facts: HostFacts = facts,
        hubs: [String] = ["contoso-west", "fabrikam"],
        nodesByHub: [String: [String]] = [:],
        installed: NodeConfiguration? = nil,
        isTrial: Bool = true,
        isDryRun: Bool = true,
        inspectFile: @escaping @Sendable (String) -> FileFacts? = { _ in nil }
    ) -> WizardContext {
        WizardContext(
            facts: facts,
            check: HostCheck(facts: facts, sizing: sizing),
            sizing: sizing,
            hubs: hubs,
            nodesByHub: nodesByHub,
            installed: installed,
            isTrial: isTrial,
            isDryRun: isDryRun,
            measure: measure,
            hostName: "node7.contoso.lan",
            inspectFile: inspectFile
        )
    }
}

extension Wizard {
    /// Feeds keys; returns the last action.
    @discardableResult
    mutating func press(_ keys: WizardKey...) -> WizardAction {
        var last = WizardAction.none
        for key in keys { last = handle(key) }
        return last
    }

    /// Types text one character at a time.
    mutating func type(_ text: String) {
        for character in text { _ = handle(.char(character)) }
    }

    /// Empties the focused text field (Ctrl-U).
    mutating func clearField() {
        _ = handle(.clearLine)
    }

    var screen: String { WizardRenderer.render(self).text }
}

/// Compares a screen with `Snapshots/NAME.txt`; `RECORD_SNAPSHOTS=1` writes the files anew.
func expectSnapshot(_ wizard: Wizard, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let screen = WizardRenderer.render(wizard)
    let file = WizardFixtures.snapshots.appendingPathComponent(name + ".txt")
    if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
        try FileManager.default.createDirectory(at: WizardFixtures.snapshots, withIntermediateDirectories: true)
        try Data(screen.text.utf8).write(to: file)
        return
    }
    let expected = try String(contentsOf: file, encoding: .utf8)
    #expect(
        screen.text == expected,
        "screen differs from Snapshots/\(name).txt:\n\(screen.text)",
        sourceLocation: sourceLocation
    )
}
