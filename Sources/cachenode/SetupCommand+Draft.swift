import CacheNodeCore
import Installer
import WizardUI

#if canImport(Glibc)
    import Glibc
#endif

/// The answers of a wizard run that did not finish (cancelled, failed, or cut off by a signal): an answer file in
/// `<state>/setup-draft.yaml` under the root, mode 0600, that the next `setup` offers and `--answers` replays.
/// An install that succeeds removes it.
struct SetupDraft {
    static let fileName = "setup-draft.yaml"

    /// Where the next `setup` looks: the state directory of the install under the root.
    var layout: InstallLayout

    var path: String { layout.stateDirectory + "/" + Self.fileName }

    /// The saved answers, when a draft is there and reads as YAML; incomplete answers are fine.
    func load() -> WizardContext.SavedAnswers? {
        guard FileSystem.exists(path), let text = try? TextFile.read(path, limit: AnswerFile.maximumBytes),
            let configuration = AnswerFile.decode(text).configuration
        else { return nil }
        return .init(path: path, savedAt: Self.modified(path), configuration: configuration)
    }

    /// Writes the answers; returns the line that tells the operator where they are.
    func keep(_ text: String, sizing: SizingTable) -> String {
        do {
            try FileSystem.makeDirectories(layout.stateDirectory)
            try FileSystem.writeAtomically(path, Array(text.utf8), mode: 0o600)
        } catch {
            return "Your answers could not be kept: \(error)"
        }
        return notice(for: text, sizing: sizing)
    }

    /// Where the answers are and how to use them; `--answers` only once they are complete.
    func notice(for text: String, sizing: SizingTable) -> String {
        let setup = "cachenode setup" + (layout.isRealInstall ? "" : " --root \(Self.quoted(layout.root))")
        guard (try? AnswerFile.load(text, sizing: sizing)) != nil else {
            return "Your answers so far are saved in \(path): the next `\(setup)` offers to start from them "
                + "(`--answers` takes the file once every answer is given)."
        }
        return "Your answers are saved in \(path): the next `\(setup)` offers to start from them, "
            + "and `\(setup) --answers \(Self.quoted(path))` installs them."
    }

    /// Removes the draft, and the directories under the root that are empty without it (the draft may have made
    /// them), so the install creates and owns them.
    func remove() {
        try? FileSystem.remove(path)
        var directory = layout.stateDirectory
        while directory.hasPrefix(layout.root), directory.count > max(1, layout.root.count), rmdir(directory) == 0 {
            directory = String(directory[..<(directory.lastIndex(of: "/") ?? directory.startIndex)])
        }
    }

    /// The file's modification time, local, to the minute.
    private static func modified(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "time unknown" }
        var seconds = info.st_mtim.tv_sec
        var local = tm()
        localtime_r(&seconds, &local)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M", &local)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A path as a shell reads it back.
    static func quoted(_ path: String) -> String {
        path.allSatisfy { $0.isLetter || $0.isNumber || "/._-+:@".contains($0) }
            ? path : "'" + path.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
