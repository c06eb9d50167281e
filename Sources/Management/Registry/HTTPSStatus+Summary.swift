import CacheNodeCore
import Foundation

extension HTTPSStatus {
    /// The certificate in one line, as the fleet shows it: subject, names and expiry, or why there is none.
    package func summary(now: Date) -> String {
        guard let certificate else { return "no certificate (\(problem ?? "none installed yet"))" }
        return "\(certificate.subject); names \(certificate.names.joined(separator: ", ")); "
            + "expires \(certificate.expiry(now: now))"
    }
}

extension CertificateStatus {
    /// `2027-03-01 (in 84 days)`, or `2026-11-30 (expired)`.
    package func expiry(now: Date) -> String {
        let seconds = notAfter.timeIntervalSince(now)
        let day = notAfter.formatted(Date.ISO8601FormatStyle().year().month().day())
        return seconds > 0 ? "\(day) (in \(Int(seconds / 86_400)) days)" : "\(day) (expired)"
    }
}
