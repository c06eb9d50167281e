/// The hosts the engine may fetch from: the Microsoft content domains plus the operator's additions.
///
/// A pattern is a host name (`download.windowsupdate.com`), a wildcard that matches any subdomain
/// (`*.download.windowsupdate.com`, which does not match the bare domain), or, among the operator's
/// additions only, an IP address. Matching ignores case and a trailing dot. An `https://` prefix marks an origin
/// fetched over TLS (`OriginPattern`): a request whose host an `https://` entry matches, at the entry's port or
/// naming no port, is fetched over HTTPS, whatever other entries match it.
package struct OriginAllowlist: Sendable, Equatable {
    private var exact: Set<String>
    private var suffixes: [String]
    private var addresses: Set<IPAddress>
    /// The `https://` entries: few, so looked through in order.
    private var secure: [OriginPattern]

    /// Parses the allowlist file (one pattern a line, `#` starts a comment) and the operator's `extra` entries
    /// (`engine.extra_origins`). Throws the line numbers, text and reason of every entry that is not a pattern.
    package init(text: String, extra: [String] = []) throws(OriginAllowlistError) {
        var bad: [String] = []
        var patterns: [OriginPattern] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: " \t\r")
            guard !line.isEmpty else { continue }
            do {
                let pattern = try OriginPattern(line)
                guard !pattern.isAddress else { throw OriginPatternError(line, .addressInList) }
                patterns.append(pattern)
            } catch {
                bad.append("line \(index + 1): \(error)")
            }
        }
        for (index, entry) in extra.enumerated() {
            do {
                patterns.append(try OriginPattern(entry))
            } catch {
                bad.append("engine.extra_origins[\(index)]: \(error)")
            }
        }
        if !bad.isEmpty { throw OriginAllowlistError(lines: bad) }
        self.init(patterns)
    }

    /// Builds an allowlist from patterns already checked with `isValidPattern`; any other entry is left out.
    package init(patterns: [String], extra: [String] = []) {
        self.init((patterns + extra).compactMap { try? OriginPattern($0) })
    }

    package init(_ patterns: [OriginPattern]) {
        exact = []
        suffixes = []
        addresses = []
        secure = []
        for pattern in patterns {
            if pattern.scheme == .https {
                secure.append(pattern)
            } else if let address = IPAddress(pattern.host) {
                addresses.insert(address)
            } else if pattern.host.hasPrefix("*.") {
                suffixes.append(String(pattern.host.dropFirst()))
            } else {
                exact.insert(pattern.host)
            }
        }
    }

    /// All patterns, for display.
    package var count: Int { exact.count + suffixes.count + addresses.count + secure.count }

    /// Whether the engine may fetch from `host` (a name or an IP literal, without port), over either scheme.
    package func allows(_ host: String) -> Bool {
        let host = Self.canonical(host)
        return allowsPlain(host) || secure.contains { Self.matches($0.host, host) }
    }

    /// Whether `host` was added explicitly as a name or address (not through a Microsoft wildcard).
    package func isExplicit(_ host: String) -> Bool {
        let host = Self.canonical(host)
        if let address = IPAddress(host) { return addresses.contains(address) || secure.contains { $0.host == host } }
        return exact.contains(host) || secure.contains { $0.host == host }
    }

    /// How a request for `host` that names `port` (or none) is fetched.
    package func listing(_ host: String, port: Int?) -> Listing {
        let host = Self.canonical(host)
        let matching = secure.filter { Self.matches($0.host, host) }
        if let port, matching.contains(where: { $0.port == port }) { return .https(port: port) }
        if matching.contains(where: { $0.port == nil }) { return .https(port: port) }
        if port == nil, let first = matching.first { return .https(port: first.port) }
        if allowsPlain(host) { return .plain }
        return matching.first.map(Listing.httpsElsewhere) ?? .unlisted
    }

    /// How the allowlist lists a request's origin.
    package enum Listing: Equatable, Sendable {
        /// Fetched over plain HTTP.
        case plain
        /// Fetched over HTTPS at `port`; `nil`: 443.
        case https(port: Int?)
        /// Listed only as this `https://` entry, for another port than the request names.
        case httpsElsewhere(OriginPattern)
        case unlisted
    }

    private func allowsPlain(_ host: String) -> Bool {
        if let address = IPAddress(host) { return addresses.contains(address) }
        if exact.contains(host) { return true }
        return suffixes.contains { host.hasSuffix($0) && host.count > $0.count }
    }

    /// Whether a canonical pattern (name, `*.name`, address) matches a canonical host.
    private static func matches(_ pattern: String, _ host: String) -> Bool {
        if let address = IPAddress(pattern) { return IPAddress(host) == address }
        guard pattern.hasPrefix("*.") else { return pattern == host }
        return host.hasSuffix(pattern.dropFirst()) && host.count > pattern.count - 1
    }

    /// Lowercased, without brackets or a trailing dot.
    private static func canonical(_ host: String) -> String {
        var host = host.lowercased().trimmingCharacters(in: "[]")
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }

    /// An allowlist entry: a host pattern, optionally `https://` with a port (see `OriginPattern`).
    package static func isValidPattern(_ pattern: String) -> Bool {
        (try? OriginPattern(pattern)) != nil
    }

    /// A host name, a `*.` wildcard over a host name, or an IP address (IPv6 with or without brackets).
    package static func isValidHost(_ pattern: String) -> Bool {
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

/// Entries of the allowlist file or of `engine.extra_origins` that are not host patterns.
package struct OriginAllowlistError: Error, Sendable, CustomStringConvertible {
    /// `line N: reason` or `engine.extra_origins[I]: reason`, each reason quoting the entry.
    package var lines: [String]

    package var description: String {
        "origin allowlist: not a host pattern: " + lines.joined(separator: "; ")
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
