/// One problem in an answer file: where it is and what would be right.
package struct ConfigurationIssue: Equatable, Sendable, CustomStringConvertible {
    /// Dotted key path, as `network.address.gateway` or `storage.drives[1].path`; empty for the document.
    package var keyPath: String
    /// 1-based line in the file, when known.
    package var line: Int?
    package var message: String
    /// What would be right, shown in parentheses.
    package var hint: String?

    package init(_ keyPath: String, line: Int? = nil, _ message: String, hint: String? = nil) {
        self.keyPath = keyPath
        self.line = line
        self.message = message
        self.hint = hint
    }

    /// `key.path: what is wrong (what would be right)`.
    package var description: String {
        var text = keyPath.isEmpty ? message : "\(keyPath): \(message)"
        if let hint { text += " (\(hint))" }
        return text
    }

    /// `FILE:LINE: key.path: what is wrong (what would be right)`.
    package func formatted(file: String) -> String {
        "\(file):\(line ?? 1): \(description)"
    }
}

/// An answer file that cannot be used, with every problem found in it.
package struct AnswerFileError: Error, Equatable, Sendable, CustomStringConvertible {
    package var issues: [ConfigurationIssue]

    package init(issues: [ConfigurationIssue]) {
        self.issues = issues
    }

    package var description: String {
        issues.map(\.description).joined(separator: "\n")
    }

    package func formatted(file: String) -> String {
        issues.map { $0.formatted(file: file) }.joined(separator: "\n")
    }
}
