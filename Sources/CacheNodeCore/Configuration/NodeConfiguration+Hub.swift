extension NodeConfiguration {
    /// The rules of the `hub:` section: a name unless the node joins none; a service's URL, how its certificate is
    /// trusted and the file that holds the key or token, each only where it means something.
    func validateHub() -> [ConfigurationIssue] {
        var issues: [ConfigurationIssue] = []
        let given: [(String, String?)] = [
            ("hub.url", hub.url), ("hub.fingerprint", hub.fingerprint), ("hub.ca_file", hub.caFile),
            ("hub.enrolment_key_file", hub.enrolmentKeyFile), ("hub.admin_token_file", hub.adminTokenFile),
        ]
        if hub.mode == .unlinked {
            if !hub.name.isEmpty {
                issues.append(.init("hub.name", "not used with mode: none", hint: "remove it, or use mode: existing"))
            }
            for case let (key, _?) in given {
                issues.append(.init(key, "not used with mode: none", hint: "remove it, or use mode: existing"))
            }
            return issues
        }
        if let problem = NameRules.hubNameProblem(hub.name) {
            issues.append(.init("hub.name", problem, hint: NameRules.hubNameRule))
        }
        var secure = true
        if let url = hub.url {
            if let problem = HubURL.problem(url) {
                issues.append(.init("hub.url", problem, hint: "https://HOST:PORT, as `cachenode hub serve` prints it"))
            } else {
                secure = HubURL(url)?.isSecure ?? true
            }
        }
        let trustKeys = ["hub.fingerprint", "hub.ca_file"]
        if let fingerprint = hub.fingerprint, HubFingerprint.normalised(fingerprint) == nil {
            issues.append(
                .init(
                    "hub.fingerprint",
                    "'\(fingerprint)' is not a SHA-256 fingerprint",
                    hint: "64 hex digits, as `cachenode hub info` prints them on the hub"
                )
            )
        }
        if let file = hub.caFile, let problem = PathRules.problem(file) {
            issues.append(.init("hub.ca_file", problem, hint: "an absolute path of a PEM file"))
        }
        if hub.fingerprint != nil, hub.caFile != nil {
            issues.append(
                .init(
                    "hub.ca_file",
                    "set together with hub.fingerprint",
                    hint: "one of them: the fingerprint, or a CA file"
                )
            )
        }
        for (key, value) in given where trustKeys.contains(key) && value != nil {
            if hub.url == nil {
                issues.append(
                    .init(
                        key,
                        "only for a hub service elsewhere",
                        hint: "set hub.url, or remove it for the hub on this machine"
                    )
                )
            } else if !secure {
                issues.append(
                    .init(key, "not used with http:// (a hub on loopback, no TLS)", hint: "remove it, or use https://")
                )
            }
        }
        for key in ["hub.enrolment_key_file", "hub.admin_token_file"] {
            guard let file = key == "hub.enrolment_key_file" ? hub.enrolmentKeyFile : hub.adminTokenFile else {
                continue
            }
            if let problem = PathRules.problem(file) {
                issues.append(.init(key, problem, hint: "an absolute path of a file of its own (mode 0600)"))
            } else if hub.url == nil {
                issues.append(
                    .init(
                        key,
                        "a hub on this machine needs no key or token",
                        hint: "remove it: setup registers the node itself"
                    )
                )
            }
        }
        if hub.enrolmentKeyFile != nil, hub.adminTokenFile != nil {
            issues.append(
                .init(
                    "hub.admin_token_file",
                    "set together with hub.enrolment_key_file",
                    hint: "one of them: a one-time key, or the admin token"
                )
            )
        }
        if hub.enrolmentKeyFile != nil, hub.mode == .create {
            issues.append(
                .init(
                    "hub.enrolment_key_file",
                    "a one-time key joins a node created in a hub that exists",
                    hint: "mode: existing; or admin_token_file to create the hub"
                )
            )
        }
        return issues
    }
}

/// A hub service's address: `https://HOST[:PORT]`, or `http://` on loopback only (keys and tokens never cross a
/// network in the clear).
package struct HubURL: Equatable, Sendable {
    package var isSecure: Bool
    package var host: String
    package var port: Int

    /// The parsed URL, or `nil` when `problem(text)` has something to say.
    package init?(_ text: String) {
        guard case .success(let url) = Self.check(text) else { return nil }
        self = url
    }

    private init(isSecure: Bool, host: String, port: Int) {
        self.isSecure = isSecure
        self.host = host
        self.port = port
    }

    /// What is wrong with `text` as a hub URL, or `nil` when nothing is.
    package static func problem(_ text: String) -> String? {
        guard case .failure(let problem) = check(text) else { return nil }
        return problem.description
    }

    private struct Problem: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private static func check(_ text: String) -> Result<HubURL, Problem> {
        let lowered = text.lowercased()
        let secure: Bool
        if lowered.hasPrefix("https://") {
            secure = true
        } else if lowered.hasPrefix("http://") {
            secure = false
        } else {
            return .failure(Problem("'\(text)' is not an https:// URL"))
        }
        var rest = Substring(text[text.range(of: "://")!.upperBound...])
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("@") {
            return .failure(Problem("'\(ProxyURL.redacting(text))' carries credentials; setup takes them from files"))
        }
        if rest.contains("/") || rest.contains("?") || rest.contains("#") {
            return .failure(Problem("'\(text)' has a path; a hub service is addressed by scheme, host and port only"))
        }
        var host = String(rest)
        var port = secure ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return .failure(Problem("'\(text)' has an unclosed [")) }
            let after = host[host.index(after: close)...]
            let inner = String(host[host.index(after: host.startIndex)..<close])
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65535).contains(number) else {
                    return .failure(Problem("'\(text)' has no valid port (1 to 65535)"))
                }
                port = number
            } else if !after.isEmpty {
                return .failure(Problem("'\(text)' is not host:port"))
            }
            host = inner
            guard IPAddress(host) != nil else { return .failure(Problem("'\(inner)' is not an IPv6 address")) }
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]), (1...65535).contains(number) else {
                return .failure(Problem("'\(text)' has no valid port (1 to 65535)"))
            }
            port = number
            host = String(host[..<colon])
        }
        guard !host.isEmpty, IPAddress(host) != nil || OriginAllowlist.isValidHostName(host) else {
            return .failure(Problem("'\(text)' names no valid host"))
        }
        if !secure {
            let loopback = host.lowercased() == "localhost" || IPAddress(host).map { $0.scope == .loopback } == true
            guard loopback else {
                return .failure(
                    Problem("\(text) is plain HTTP across the network, where keys and tokens would travel in the clear")
                )
            }
        }
        return .success(HubURL(isSecure: secure, host: host, port: port))
    }
}

/// SHA-256 certificate fingerprints as people type them and as `cachenode hub info` prints them.
package enum HubFingerprint {
    /// `SHA256:AB:CD:...` from any case, with or without `SHA256:` and colons; `nil` when it is not 64 hex digits.
    package static func normalised(_ text: String) -> String? {
        var hex = text.trimmingSpaces()
        if hex.uppercased().hasPrefix("SHA256:") { hex = String(hex.dropFirst("SHA256:".count)) }
        hex = String(hex.filter { $0 != ":" }).uppercased()
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        var pairs: [String] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            pairs.append(String(hex[index..<next]))
            index = next
        }
        return "SHA256:" + pairs.joined(separator: ":")
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view.removeFirst() }
        while view.last?.isWhitespace == true { view.removeLast() }
        return String(view)
    }
}

/// The secret that joins a node to a hub service: given to setup alone (a file, the environment or the wizard) and
/// never written into answers, a configuration, a draft or a log.
package enum HubCredential: Equatable, Sendable, CustomStringConvertible {
    /// A one-time key from `cachenode node create`: the node enrols with it.
    case enrolmentKey(String)
    /// The hub service's admin token: setup creates the node on the hub, then enrols it.
    case adminToken(String)

    /// What it is, never its value.
    package var description: String {
        switch self {
        case .enrolmentKey: "a one-time enrolment key"
        case .adminToken: "the hub's admin token"
        }
    }

    package var secret: String {
        switch self {
        case .enrolmentKey(let key): key
        case .adminToken(let token): token
        }
    }
}
