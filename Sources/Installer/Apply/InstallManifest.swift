import Foundation

/// What an install created and replaced, so a re-run, a rollback and uninstall know what is theirs.
package struct InstallManifest: Codable, Equatable, Sendable {
    package struct Entry: Codable, Equatable, Sendable {
        /// The path on disk.
        package var path: String
        /// Where the file that was there before the first install was kept, if there was one.
        package var backup: String?
    }

    package var version: Int = 1
    package var node: String
    package var hub: String
    package var root: String
    package var state: String
    package var binary: String
    package var installedAt: String
    package var files: [Entry]
    /// Directories the install created, innermost last.
    package var directories: [String]
    package var drives: [String]

    enum CodingKeys: String, CodingKey {
        case version, node, hub, root, state, binary, files, directories, drives
        case installedAt = "installed_at"
    }

    package static func read(_ path: String) throws(InstallError) -> InstallManifest? {
        guard let bytes = try FileSystem.contents(path) else { return nil }
        do {
            return try JSONDecoder().decode(InstallManifest.self, from: Data(bytes))
        } catch {
            throw .file(path: path, problem: "not a readable install manifest: \(error)")
        }
    }

    package func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)).map(Array.init) ?? []) + [10]
    }

    package static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
