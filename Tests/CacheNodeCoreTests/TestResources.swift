import CacheNodeCore
import Foundation

/// The repository's `Resources/`, read as the executable reads them.
enum TestResources {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    static let sizing: SizingTable = {
        do {
            return try SizingTable(yaml: try text("Resources/sizing.yaml"))
        } catch {
            fatalError("Resources/sizing.yaml does not load: \(error)")
        }
    }()

    static let exampleAnswerFiles = ["branch-static.yaml", "large-create-switch.yaml", "trial.yaml"]
}
