/// Removes secrets from text that leaves the machine in a support bundle.
///
/// Values of keys that name a secret (token, key, password, secret, credential) in YAML, JSON or
/// `key=value` form, the password in `scheme://user:password@host`, and `Authorization` headers.
package enum Redaction {
    package static let marker = "<redacted>"

    /// `text` with every secret replaced by the marker; everything else is kept as it was.
    package static func redact(_ text: String) -> String {
        var result = text
        // "token": "abc"  /  token: abc  /  api_key=abc  /  Authorization: Bearer abc
        let keyed =
            #/(?i)(?<key>["']?[A-Za-z0-9_.-]*(?:token|password|passwd|secret|credential|api[_-]?key|_key|authorization)["']?\s*[:=]\s*)(?<value>"[^"\n]*"|'[^'\n]*'|(?:Bearer|Basic)[ \t]+[^\s,}\n]+|[^\s,}\n]+)/#
        result = result.replacing(keyed) { match in
            let value = match.output.value
            let quote: String = value.first.flatMap { $0 == "\"" || $0 == "'" ? String($0) : nil } ?? ""
            return String(match.output.key) + quote + marker + quote
        }
        // scheme://user:password@host
        let userinfo = #/(?<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)(?<password>[^@\s/]+)@/#
        result = result.replacing(userinfo) { match in String(match.output.prefix) + marker + "@" }
        return result
    }
}
