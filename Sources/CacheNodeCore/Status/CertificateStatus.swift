import Foundation

/// The certificate the engine's TLS listener serves, as `/status`, `cachenode status`, the hub's report and the fleet
/// page show it.
package struct CertificateStatus: Codable, Equatable, Sendable {
    /// The subject as `CN=cache.contoso.org, O=Contoso`.
    package var subject: String
    package var issuer: String
    /// The subject alternative names: DNS names (wildcards as `*.contoso.org`) and IP addresses.
    package var names: [String]
    package var notBefore: Date
    package var notAfter: Date
    /// `SHA256:` and the DER certificate's digest in hex pairs, as `openssl x509 -fingerprint -sha256` prints it.
    package var fingerprint: String

    package init(
        subject: String,
        issuer: String,
        names: [String],
        notBefore: Date,
        notAfter: Date,
        fingerprint: String
    ) {
        self.subject = subject
        self.issuer = issuer
        self.names = names
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.fingerprint = fingerprint
    }

    enum CodingKeys: String, CodingKey {
        case subject, issuer, names, fingerprint
        case notBefore = "not_before"
        case notAfter = "not_after"
    }
}

/// The TLS listener's state: where it listens, the names clients use, and the certificate it serves (none yet: a
/// request made, the certificate not installed; or the files could not be used, `problem` says why).
package struct HTTPSStatus: Codable, Equatable, Sendable {
    package var listen: String
    /// The names and addresses clients put in `DOCacheHost`, which the certificate must cover.
    package var requiredNames: [String]
    package var certificate: CertificateStatus?
    /// Why the configured files are not served (missing, unreadable, key does not match), in words.
    package var problem: String?
    /// When the served certificate was loaded (a renewal shows here).
    package var loadedAt: Date?

    package init(
        listen: String,
        requiredNames: [String],
        certificate: CertificateStatus?,
        problem: String? = nil,
        loadedAt: Date? = nil
    ) {
        self.listen = listen
        self.requiredNames = requiredNames
        self.certificate = certificate
        self.problem = problem
        self.loadedAt = loadedAt
    }

    enum CodingKeys: String, CodingKey {
        case listen, certificate, problem
        case requiredNames = "required_names"
        case loadedAt = "loaded_at"
    }
}

/// What a certificate must be for the node's clients, and the health reasons when it is not.
package enum CertificateRules {
    /// A certificate expiring within this many days makes the node degraded.
    package static let expiryWarningDays = 30

    /// Whether a certificate name covers `name`: equal ignoring case and a final dot, or a `*.` wildcard standing for
    /// exactly one left-most label (RFC 6125 6.4.3); IP addresses only by equal address.
    package static func covers(_ certificateName: String, _ name: String) -> Bool {
        func canonical(_ text: String) -> String {
            var text = text.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            while text.hasSuffix(".") { text.removeLast() }
            return text
        }
        let pattern = canonical(certificateName)
        let host = canonical(name)
        if let address = IPAddress(host) { return IPAddress(pattern) == address }
        if pattern == host { return true }
        guard pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
        return host[host.index(after: dot)...] == pattern.dropFirst(2) && host[..<dot].isEmpty == false
    }

    /// The names in `required` that no name of the certificate covers.
    package static func uncovered(_ required: [String], by certificateNames: [String]) -> [String] {
        required.filter { name in !certificateNames.contains { covers($0, name) } }
    }

    /// The names clients use for this node: `engine.https.names`, or else its `DOCacheHost` value without the port.
    package static func requiredNames(_ configuration: NodeConfiguration, hostName: String) -> [String] {
        if let names = configuration.engine.https?.names, !names.isEmpty { return names }
        var host = configuration.cacheHost(hostName: hostName)
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<end])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return [host]
    }

    /// The health reasons for the TLS listener's state at `now` (none when all is well). Every one is `degraded`:
    /// plain HTTP goes on, and clients fall back to the CDN for HTTPS content.
    package static func reasons(_ https: HTTPSStatus, now: Date) -> [HealthReason] {
        guard let certificate = https.certificate else {
            return [
                HealthReason(
                    kind: "certificate_missing",
                    severity: .degraded,
                    detail: "HTTPS on \(https.listen) has no certificate to serve: "
                        + (https.problem ?? "none installed yet"),
                    action: "have the request signed and run cachenode cert install CERT "
                        + "(cachenode cert request makes one); HTTPS clients use the CDN meanwhile",
                    since: now
                )
            ]
        }
        var reasons: [HealthReason] = []
        let format = Date.ISO8601FormatStyle().year().month().day()
        let expiry = certificate.notAfter.formatted(format)
        if certificate.notAfter <= now {
            reasons.append(
                HealthReason(
                    kind: "certificate_expired",
                    severity: .degraded,
                    detail: "the HTTPS certificate (\(certificate.subject)) expired on \(expiry)",
                    action: "install a renewed certificate: cachenode cert install CERT",
                    since: now
                )
            )
        } else if certificate.notAfter.timeIntervalSince(now) < Double(expiryWarningDays * 86_400) {
            let days = Int(certificate.notAfter.timeIntervalSince(now) / 86_400)
            reasons.append(
                HealthReason(
                    kind: "certificate_expiring",
                    severity: .degraded,
                    detail: "the HTTPS certificate (\(certificate.subject)) expires on \(expiry), in \(days) days",
                    action: "renew it and run cachenode cert install CERT, or let the ACME client's deploy hook do so",
                    since: now
                )
            )
        }
        let missing = uncovered(https.requiredNames, by: certificate.names)
        if !missing.isEmpty {
            reasons.append(
                HealthReason(
                    kind: "certificate_names",
                    severity: .degraded,
                    detail: "the HTTPS certificate does not cover \(missing.joined(separator: ", ")), which clients "
                        + "use in DOCacheHost (it names \(certificate.names.joined(separator: ", ")))",
                    action:
                        "request a certificate for those names: cachenode cert request, then cachenode cert install",
                    since: now
                )
            )
        }
        return reasons
    }
}
