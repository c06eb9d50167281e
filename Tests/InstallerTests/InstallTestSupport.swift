import CacheNodeCore
import Foundation
import Installer

/// Paths and loaders shared by the installer tests.
enum InstallFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let resources: InstallResources = {
        do {
            return try InstallResources(
                resources: repository.appendingPathComponent("Resources").path,
                templates: repository.appendingPathComponent("Templates").path
            )
        } catch {
            fatalError("resources do not load: \(error)")
        }
    }()

    static func answers(_ name: String) throws -> NodeConfiguration {
        let text = try String(
            contentsOf: repository.appendingPathComponent("Resources/answers/\(name)"),
            encoding: .utf8
        )
        return try AnswerFile.load(text, sizing: resources.sizing)
    }

    static func planner(netplan: Bool = false) -> InstallPlanner {
        InstallPlanner(
            templates: resources.templates,
            policy: resources.policy,
            binary: "/usr/local/bin/cachenode",
            hostName: "cache-host",
            version: "1.0.0",
            usesNetplan: netplan
        )
    }

    /// A new empty directory, removed by the caller.
    static func temporaryRoot() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cachenode-root-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Every file and directory below `root` with its bytes, to compare a tree before and after.
    static func snapshot(_ root: String, excluding: [String] = []) -> [String: Data] {
        var result: [String: Data] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [:] }
        while let relative = enumerator.nextObject() as? String {
            if excluding.contains(where: { relative.hasPrefix($0) }) { continue }
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            result[relative] =
                isDirectory.boolValue ? Data("<dir>".utf8) : (FileManager.default.contents(atPath: path) ?? Data())
        }
        return result
    }
}

/// Records the commands a real install would run, answering each with success.
final class RecordingRunner: CommandRunning, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [[String]] = []
    var failing: String?

    var commands: [[String]] { lock.withLock { recorded } }

    func run(_ arguments: [String]) -> (status: Int32, output: String) {
        lock.withLock { recorded.append(arguments) }
        if let failing, arguments.joined(separator: " ").contains(failing) { return (1, "refused") }
        return (0, "")
    }
}
