import CacheNodeCore
import Foundation
import NIOCore
import NIOSSL
import X509

#if canImport(Glibc)
    import Glibc
#endif

/// How the engine speaks TLS to origins: the system's CAs plus `engine.origin_ca_file`, the certificate chain and the
/// origin's name (or address) always verified, TLS 1.2 or later, HTTP/1.1.
///
/// The context verifies the chain; the name is checked by `certificate(_:identifies:)` on every new connection
/// (`TLSHandshakeWatch`) before a request is written, not by NIOSSL, which matches an IP-address name against the
/// address the socket is connected to: the proxy's in a `CONNECT` tunnel, and for a named origin pinned to its checked
/// address an IP-address name would stand for the name.
package struct OriginTLS: Sendable {
    /// Made once: loading the CAs is slow, and a context serves every connection.
    let context: NIOSSLContext
    /// Whether the system's CA store was found. Without it (a minimal system without the ca-certificates package) the
    /// engine still starts and serves everything else; only the CAs of `engine.origin_ca_file` are trusted, and a
    /// failed HTTPS fetch says what is missing.
    let hasSystemCAs: Bool

    /// Reads `caFile` (PEM, one or more certificates) when given; a file that is missing, unreadable or holds no
    /// certificate is an error naming `engine.origin_ca_file`.
    package init(caFile: String?) throws(EngineError) {
        let extra = try caFile.map(Self.certificates) ?? []
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .default
        configuration.applicationProtocols = ["http/1.1"]
        if !extra.isEmpty { configuration.additionalTrustRoots = [.certificates(extra)] }
        if let context = try? NIOSSLContext(configuration: configuration) {
            (self.context, hasSystemCAs) = (context, true)
            return
        }
        configuration.trustRoots = .certificates(extra)
        configuration.additionalTrustRoots = []
        do {
            (context, hasSystemCAs) = (try NIOSSLContext(configuration: configuration), false)
        } catch {
            throw .resources("the TLS context for origins cannot be made: \(error)")
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
    static func reason(_ error: any Error, origin: String, hasSystemCAs: Bool = true) -> String? {
        guard let sslError = error as? NIOSSLError else { return nil }
        switch sslError {
        case .handshakeFailed(let detail):
            // BoringSSL's reason for a chain that does not verify (untrusted CA, expired, not yet valid).
            if "\(detail)".contains("CERTIFICATE_VERIFY_FAILED") {
                guard hasSystemCAs else {
                    return "TLS with \(origin) refused: this system has no CA store (install the ca-certificates "
                        + "package), and engine.origin_ca_file does not vouch for its certificate"
                }
                return "TLS with \(origin) refused: its certificate does not verify against the system's CAs and "
                    + "engine.origin_ca_file (an unknown CA, or expired)"
            }
            return "TLS handshake with \(origin) failed: \(detail)"
        default:
            return "TLS with \(origin) failed: \(sslError)"
        }
    }

    /// Whether `certificate` identifies `origin`: an IP address in an IP-address subject alternative name, a host name
    /// in a DNS one (RFC 6125 6.4: a `*` stands for the whole leftmost label only; the common name is not read).
    static func certificate(_ certificate: NIOSSLCertificate, identifies origin: String) -> Bool {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
            let alternatives = try? parsed.extensions.subjectAlternativeNames
        else { return false }
        if let address = IPAddress(origin) {
            return alternatives.contains { name in
                guard case .ipAddress(let bytes) = name else { return false }
                return Self.address(Array(bytes.bytes)) == address
            }
        }
        let host = canonical(origin)
        for case .dnsName(let entry) in alternatives {
            let entry = canonical(entry)
            if entry == host { return true }
            guard entry.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { continue }
            if dot > host.startIndex && host[dot...] == entry.dropFirst() { return true }
        }
        return false
    }

    /// The address an IP-address subject alternative name holds (4 or 16 bytes).
    private static func address(_ bytes: [UInt8]) -> IPAddress? {
        switch bytes.count {
        case 4: return .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: return .v6(bytes)
        default: return nil
        }
    }

    private static func canonical(_ name: String) -> String {
        var name = name.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// The reason for a certificate that does not name the origin `host` (a name or an address).
    static func notNamed(_ host: String) -> OriginFailure {
        .unreachable("TLS with \(host) refused: its certificate does not name \(host)")
    }
}
