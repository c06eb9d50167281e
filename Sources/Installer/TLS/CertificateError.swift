import CacheNodeCore
import Foundation

/// Why a certificate request could not be made or a certificate not installed; each says what to do.
package enum CertificateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `engine.https` is not set in the installed configuration.
    case httpsOff(configuration: String)
    case file(path: String, problem: String)
    /// The file holds no PEM certificate.
    case noCertificate(path: String)
    /// The file holds no private key this program reads (PKCS#8, SEC1 or PKCS#1 PEM).
    case unreadableKey(path: String, problem: String)
    /// No key tried matches the certificate's public key.
    case keyMismatch(certificate: String, tried: [String])
    case namesUncovered(certificate: String, missing: [String], names: [String])
    case expired(certificate: String, notAfter: Date)
    case notYetValid(certificate: String, notBefore: Date)
    /// No chain from the certificate to a root in the given files or the system's CA store.
    case chain(certificate: String, problem: String)
    case invalidName(String)
    /// The key or the request could not be made.
    case request(problem: String)

    package var description: String {
        switch self {
        case .httpsOff(let configuration):
            "HTTPS is off on this node (no engine.https in \(configuration)): turn it on with cachenode setup "
                + "(the HTTPS step, or engine.https in the answer file), then run this again"
        case let .file(path, problem): "\(path): \(problem)"
        case .noCertificate(let path): "\(path): no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        case let .unreadableKey(path, problem):
            "\(path): not a private key this node can use (PEM: PKCS#8, EC or RSA): \(problem)"
        case let .keyMismatch(certificate, tried):
            "\(certificate) does not match "
                + (tried.isEmpty
                    ? "any key: there is no pending request and no key in use" : tried.joined(separator: " nor "))
                + ": install the certificate issued for this node's request (cachenode cert request), or give the key "
                + "it was issued for with --key FILE"
        case let .namesUncovered(certificate, missing, names):
            "\(certificate) does not cover \(missing.joined(separator: ", ")), which clients use in DOCacheHost "
                + "(it names \(names.isEmpty ? "nothing" : names.joined(separator: ", "))): request a certificate "
                + "for those names with cachenode cert request"
        case let .expired(certificate, notAfter):
            "\(certificate) expired on \(Self.day(notAfter)): install a renewed certificate"
        case let .notYetValid(certificate, notBefore):
            "\(certificate) is not valid before \(Self.moment(notBefore)): check this machine's clock, or wait"
        case let .chain(certificate, problem):
            "\(certificate) does not build a chain to a trusted root: \(problem); give the issuing CA's certificates "
                + "(its intermediates, and its root when the system does not trust it) with --chain FILE"
        case .invalidName(let problem): problem
        case .request(let problem): "the certificate request could not be made: \(problem)"
        }
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle().year().month().day())
    }

    static func moment(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle()).replacingOccurrences(of: "T", with: " ")
            .replacingOccurrences(of: "Z", with: " UTC")
    }
}
