#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// A support bundle: named text files, written as one `support_bundle_<UTC timestamp>.tar.gz`.
package struct SupportBundle: Sendable {
    package struct Entry: Sendable, Equatable {
        package var name: String
        package var content: String

        package init(name: String, content: String) {
            self.name = name
            self.content = content
        }
    }

    package private(set) var entries: [Entry] = []
    package let name: String

    /// A bundle named after `date` in UTC, as `support_bundle_20261126T021500Z`.
    package init(date: Date = Date()) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        name = "support_bundle_" + formatter.string(from: date)
    }

    /// Adds a file; `redacted` runs it through `Redaction` first.
    package mutating func add(_ name: String, _ content: String, redacted: Bool = false) {
        entries.append(Entry(name: name, content: redacted ? Redaction.redact(content) : content))
    }

    /// Adds the last `lines` lines of the file at `path`, or a note saying why it is missing.
    package mutating func addTail(_ name: String, of path: String, lines: Int) {
        guard let bytes = try? FileSystem.contents(path) else {
            add(name + ".missing", "\(path) could not be read (not created yet, or no permission)\n")
            return
        }
        let text = String(decoding: bytes.suffix(lines * 512), as: UTF8.self)
        var kept = text.split(separator: "\n", omittingEmptySubsequences: false)
        if kept.last == "" { kept.removeLast() }
        add(name, kept.suffix(lines).joined(separator: "\n") + "\n", redacted: true)
    }

    /// Adds the file at `path` whole (redacted), or a note saying why it is missing.
    package mutating func addFile(_ name: String, from path: String) {
        guard let bytes = try? FileSystem.contents(path) else {
            add(name + ".missing", "\(path) could not be read (not created yet, or no permission)\n")
            return
        }
        add(name, String(decoding: bytes, as: UTF8.self), redacted: true)
    }

    /// Writes `<directory>/<name>.tar.gz` and returns its path; nothing is left behind on failure.
    package func write(to directory: String, runner: any CommandRunning = SystemCommandRunner())
        async throws(InstallError) -> String
    {
        let output = FileSystem.absolute(directory)
        try FileSystem.makeDirectories(output)
        let staging = output + "/.\(name).staging"
        try? FileSystem.removeTree(staging)
        defer { try? FileSystem.removeTree(staging) }
        for entry in entries {
            let path = staging + "/" + name + "/" + entry.name
            try FileSystem.makeDirectories(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
            try FileSystem.writeAtomically(path, Array(entry.content.utf8), mode: 0o600)
        }
        let archive = output + "/" + name + ".tar.gz"
        let temporary = archive + ".partial"
        let result = await runner.run(["tar", "-czf", temporary, "-C", staging, "--owner=0", "--group=0", name])
        guard result.status == 0 else {
            try? FileSystem.removeTree(temporary)
            throw .file(
                path: archive,
                problem: "tar failed: \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        guard rename(temporary, archive) == 0 else {
            let problem = String(cString: strerror(errno))
            try? FileSystem.removeTree(temporary)
            throw .file(path: archive, problem: problem)
        }
        return archive
    }
}
