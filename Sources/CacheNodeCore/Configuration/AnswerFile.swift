import Yams

/// The YAML form of a `NodeConfiguration`: read with every problem reported at once, and written back.
package enum AnswerFile {
    /// Answer files are a page of text; anything larger is refused before parsing.
    package static let maximumBytes = 1 << 20
    /// Deeper `[`/`{` nesting than any answer file needs is refused before parsing.
    package static let maximumNesting = 32

    /// Reads and validates an answer file; throws every problem found, each with its key path and line.
    package static func load(_ text: String, sizing: SizingTable) throws(AnswerFileError) -> NodeConfiguration {
        let decoded = decode(text)
        var issues = decoded.issues
        if let configuration = decoded.configuration {
            let reported = Set(issues.map(\.keyPath))
            let semantic = configuration.validate(sizing: sizing)
                .filter { issue in
                    !reported.contains(where: { issue.keyPath == $0 || issue.keyPath.hasPrefix($0 + ".") })
                }
            issues += semantic.map { issue in
                var issue = issue
                issue.line = issue.line ?? decoded.lines.line(for: issue.keyPath)
                return issue
            }
        }
        guard issues.isEmpty, let configuration = decoded.configuration else {
            throw AnswerFileError(issues: issues.sorted { ($0.line ?? 0, $0.keyPath) < ($1.line ?? 0, $1.keyPath) })
        }
        return configuration
    }

    /// The result of reading the YAML: a model (with blanks where values were missing) and the problems.
    package struct Decoded: Sendable {
        package var configuration: NodeConfiguration?
        package var issues: [ConfigurationIssue]
        package var lines: KeyLines
    }

    /// Reads the YAML into the model without the semantic rules; structural problems only.
    package static func decode(_ text: String) -> Decoded {
        if let problem = precheck(text) {
            return Decoded(configuration: nil, issues: [problem], lines: KeyLines())
        }
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return Decoded(configuration: nil, issues: [issue(for: error)], lines: KeyLines())
        } catch {
            return Decoded(
                configuration: nil,
                issues: [ConfigurationIssue("", line: 1, "not valid YAML: \(error)")],
                lines: KeyLines()
            )
        }
        guard let root else {
            let issue = ConfigurationIssue(
                "",
                line: 1,
                "the answer file is empty",
                hint: "start from an example in Resources/answers/"
            )
            return Decoded(configuration: nil, issues: [issue], lines: KeyLines())
        }
        var reader = AnswerFileReader()
        let configuration = reader.readConfiguration(root)
        return Decoded(configuration: configuration, issues: reader.issues, lines: reader.lines)
    }

    private static func precheck(_ text: String) -> ConfigurationIssue? {
        if text.utf8.count > maximumBytes {
            return ConfigurationIssue(
                "",
                line: 1,
                "the file is \(text.utf8.count) bytes, too large for an answer file",
                hint: "at most \(maximumBytes) bytes"
            )
        }
        if let line = firstControlCharacterLine(text) {
            return ConfigurationIssue("", line: line, "the file holds binary data, not YAML text")
        }
        var depth = 0
        var line = 1
        var quote: Character?
        var comment = false
        for character in text {
            switch character {
            case "\n", "\r\n":
                line += 1
                comment = false
                if quote == "'" || quote == "\"" { continue }
            case _ where comment:
                continue
            case "\"", "'":
                if quote == nil { quote = character } else if quote == character { quote = nil }
            case "#" where quote == nil:
                comment = true
            case "[", "{":
                guard quote == nil else { continue }
                depth += 1
                if depth > maximumNesting {
                    return ConfigurationIssue(
                        "",
                        line: line,
                        "the YAML is nested too deeply",
                        hint: "at most \(maximumNesting) levels"
                    )
                }
            case "]", "}":
                if quote == nil { depth = max(0, depth - 1) }
            default:
                continue
            }
        }
        return nil
    }

    private static func firstControlCharacterLine(_ text: String) -> Int? {
        var line = 1
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                line += 1
            } else if scalar.value < 0x20 && scalar != "\t" && scalar != "\r" {
                return line
            } else if scalar.value == 0x7F || scalar == "\u{FFFD}" {
                return line
            }
        }
        return nil
    }

    private static func issue(for error: YamlError) -> ConfigurationIssue {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return ConfigurationIssue("", line: mark.line, "not valid YAML: \(detail)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigurationIssue(
                "",
                line: context.mark.line,
                "duplicate keys: \(duplicates.joined(separator: ", "))",
                hint: "each key once"
            )
        case let .reader(problem, _, _, _):
            return ConfigurationIssue("", line: 1, "not readable as text: \(problem)")
        default:
            return ConfigurationIssue("", line: 1, "not valid YAML: \(error)")
        }
    }
}

/// The line each key path was read from, so later checks can point at it.
package struct KeyLines: Sendable, Equatable {
    private var lines: [String: Int] = [:]

    package init() {}

    package subscript(path: String) -> Int? {
        get { lines[path] }
        set { lines[path] = newValue }
    }

    /// The line of `path`, or of its nearest parent that was read.
    package func line(for path: String) -> Int? {
        var path = path
        while true {
            if let line = lines[path] { return line }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { return lines[""] }
            path = String(path[..<cut])
        }
    }
}
