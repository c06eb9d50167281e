import CacheNodeCore
import Foundation

extension NodeStatusReport {
    /// The TLS listener as `/status` tells it: where it listens, the certificate it serves and when that expires.
    static func httpsLines(_ https: HTTPSStatus, now: Date) -> [String] {
        var lines = ["HTTPS:              \(https.listen), for \(https.requiredNames.joined(separator: ", "))"]
        guard let certificate = https.certificate else {
            lines.append("  certificate:      none (\(https.problem ?? "none installed yet"))")
            return lines
        }
        let day = Date.ISO8601FormatStyle().year().month().day()
        let seconds = certificate.notAfter.timeIntervalSince(now)
        let left = seconds > 0 ? "in \(Int(seconds / 86_400)) days" : "expired"
        lines.append("  certificate:      \(certificate.subject), issued by \(certificate.issuer)")
        lines.append("  names:            \(certificate.names.joined(separator: ", "))")
        lines.append("  expires:          \(certificate.notAfter.formatted(day)) (\(left))")
        lines.append("  fingerprint:      \(certificate.fingerprint)")
        if let problem = https.problem {
            lines.append("  problem:          \(problem) (the certificate above is still served)")
        }
        return lines
    }
}
