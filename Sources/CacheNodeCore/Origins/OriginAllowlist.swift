/// The hosts the engine may fetch from: the Microsoft content domains plus the operator's additions.
///
/// A pattern is a host name (`download.windowsupdate.com`), a wildcard that matches any subdomain
/// (`*.download.windowsupdate.com`, which does not match the bare domain), or, among the operator's
/// additions only, an IP address. Matching ignores case and a trailing dot.
package struct OriginAllowlist: Sendable, Equatable {
    private var exact: Set<String>
    private var suffixes: [String]
    private var addresses: Set<IPAddress>

    /// Parses the allowlist file: one pattern a line, `#` starts a comment.
    /// Throws the line numbers and text of the lines that are not patterns.
    package init(text: String, extra: [String] = []) throws(OriginAllowlistError) {
        var bad: [(Int, String)] = []
        var patterns: [String] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: " \t\r")
            guard !line.isEmpty else { continue }
            if Self.isValidPattern(line) && IPAddress(line) == nil {
                patterns.append(line)
            } else {
                bad.append((index + 1, line))
            }
        }
        if !bad.isEmpty { throw OriginAllowlistError(lines: bad.map { "\($0.0): \($0.1)" }) }
        self.init(patterns: patterns, extra: extra)
    }

    /// Builds an allowlist from patterns already checked with `isValidPattern`.
    package init(patterns: [String], extra: [String] = []) {
        exact = []
        suffixes = []
        addresses = []
        for pattern in patterns + extra {
            let pattern = Self.canonical(pattern)
            if let address = IPAddress(pattern.trimmingCharacters(in: "[]")) {
                addresses.insert(address)
            } else if pattern.hasPrefix("*.") {
                suffixes.append(String(pattern.dropFirst()))
            } else {
                exact.insert(pattern)
            }
        }
    }

    /// All patterns, for display.
    package var count: Int { exact.count + suffixes.count + addresses.count }

    /// Whether the engine may fetch from `host` (a name or an IP literal, without port).
    package func allows(_ host: String) -> Bool {
        let host = Self.canonical(host)
        if let address = IPAddress(host.trimmingCharacters(in: "[]")) { return addresses.contains(address) }
        if exact.contains(host) { return true }
        return suffixes.contains { host.hasSuffix($0) && host.count > $0.count }
    }

    /// Whether `host` was added explicitly as a name or address (not through a Microsoft wildcard).
    package func isExplicit(_ host: String) -> Bool {
        let host = Self.canonical(host)
        if let address = IPAddress(host.trimmingCharacters(in: "[]")) { return addresses.contains(address) }
        return exact.contains(host)
    }

    private static func canonical(_ host: String) -> String {
        var host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// A host name, a `*.` wildcard over a host name, or an IP address.
    package static func isValidPattern(_ pattern: String) -> Bool {
        if IPAddress(pattern) != nil { return true }
        if pattern.hasPrefix("[") && pattern.hasSuffix("]") && IPAddress(String(pattern.dropFirst().dropLast())) != nil
        {
            return true
        }
        let name = pattern.hasPrefix("*.") ? String(pattern.dropFirst(2)) : pattern
        return isValidHostName(name)
    }

    /// RFC 1123 host names: labels of letters, digits and hyphens, 1 to 63 each, 253 in all.
    package static func isValidHostName(_ name: String) -> Bool {
        var name = name
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return false }  // looks like an IP form
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }
}

/// Lines of the allowlist file that are not host patterns.
package struct OriginAllowlistError: Error, Sendable, CustomStringConvertible {
    package var lines: [String]

    package var description: String {
        "origin allowlist: not a host pattern on line " + lines.joined(separator: "; line ")
    }
}

extension StringProtocol {
    /// The text without the given characters at either end.
    package func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        guard let start = firstIndex(where: { !characters.contains($0) }) else { return "" }
        let end = lastIndex(where: { !characters.contains($0) })!
        return String(self[start...end])
    }
}
