import Foundation
import NIOCore
import NIOSSL
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// How the engine speaks TLS to origins: the system's CAs plus `engine.origin_ca_file`, the certificate chain and the
/// origin's name (or address) always verified, TLS 1.2 or later, HTTP/1.1.
package struct OriginTLS: Sendable {
    package let configuration: TLSConfiguration
    /// Made once: loading the CAs is slow, and a context serves every connection.
    let context: NIOSSLContext

    /// Reads `caFile` (PEM, one or more certificates) when given; a file that is missing, unreadable or holds no
    /// certificate is an error naming `engine.origin_ca_file`.
    package init(caFile: String?) throws(EngineError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        configuration.trustRoots = .default
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile {
            configuration.additionalTrustRoots = [.certificates(try Self.certificates(caFile))]
        }
        self.configuration = configuration
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .resources("engine.origin_ca_file: the TLS context for origins cannot be made: \(error)")
        }
    }

    private static func certificates(_ path: String) throws(EngineError) -> [NIOSSLCertificate] {
        guard access(path, F_OK) == 0 else { throw .resources("engine.origin_ca_file: \(path) does not exist") }
        guard access(path, R_OK) == 0 else {
            throw .resources("engine.origin_ca_file: \(path) is not readable by the engine's user")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            text.contains("-----BEGIN CERTIFICATE-----")
        else { throw .resources("engine.origin_ca_file: \(path) holds no PEM certificate") }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .resources("engine.origin_ca_file: \(path) is not a PEM file of certificates (\(error))")
        }
        guard !certificates.isEmpty else {
            throw .resources("engine.origin_ca_file: \(path) holds no PEM certificate")
        }
        return certificates
    }

    /// Why a TLS error ended a fetch from `origin`, in words an operator can act on; `nil` for other errors.
    static func reason(_ error: any Error, origin: String) -> String? {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS with \(origin) refused: its certificate does not name \(origin)"
        }
        guard let sslError = error as? NIOSSLError else { return nil }
        switch sslError {
        case .handshakeFailed(let detail):
            // BoringSSL's reason for a chain that does not verify (untrusted CA, expired, not yet valid).
            if "\(detail)".contains("CERTIFICATE_VERIFY_FAILED") {
                return "TLS with \(origin) refused: its certificate does not verify against the system's CAs and "
                    + "engine.origin_ca_file (an unknown CA, or expired)"
            }
            return "TLS handshake with \(origin) failed: \(detail)"
        default:
            return "TLS with \(origin) failed: \(sslError)"
        }
    }

    /// Whether `certificate` names the host `name` in a DNS subject alternative name (RFC 6125 6.4: a `*` stands for
    /// the whole leftmost label only). NIOSSL also accepts an IP-address name equal to the address it connected to,
    /// which for a named origin pinned to its checked address says nothing about the name: this check does not.
    static func certificate(_ certificate: NIOSSLCertificate, names name: String) -> Bool {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
            let alternatives = try? parsed.extensions.subjectAlternativeNames
        else { return false }
        let host = canonical(name)
        for case .dnsName(let entry) in alternatives {
            let entry = canonical(entry)
            if entry == host { return true }
            guard entry.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { continue }
            if dot > host.startIndex && host[dot...] == entry.dropFirst() { return true }
        }
        return false
    }

    private static func canonical(_ name: String) -> String {
        var name = name.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// The reason for a certificate that does not name the origin `host`.
    static func notNamed(_ host: String) -> OriginFailure {
        .unreachable("TLS with \(host) refused: its certificate does not name \(host)")
    }
}
