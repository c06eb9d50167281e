import CacheNodeCore
import Crypto
import Foundation
import SwiftASN1
import X509

extension CertificateStatus {
    /// What `cachenode cert install` and `cachenode policy` tell of a certificate: subject, issuer, names, validity
    /// and SHA-256 fingerprint, as the engine's `/status` shows them.
    package init(_ pem: PEMCertificate) {
        self.init(
            subject: Self.text(pem.certificate.subject),
            issuer: Self.text(pem.certificate.issuer),
            names: Self.names(pem.certificate),
            notBefore: pem.certificate.notValidBefore,
            notAfter: pem.certificate.notValidAfter,
            fingerprint: "SHA256:"
                + SHA256.hash(data: pem.document.derBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
        )
    }

    /// `CN=cache.contoso.org, O=Contoso`: most specific first, as `openssl x509 -subject` prints it.
    static func text(_ name: DistinguishedName) -> String {
        name.reversed().map { String(describing: $0) }.joined(separator: ", ")
    }

    /// The subject alternative names: DNS names as written, IP addresses as text.
    static func names(_ certificate: Certificate) -> [String] {
        let alternatives = (try? certificate.extensions.subjectAlternativeNames) ?? nil
        return alternatives.map { $0.compactMap(\.clientName) } ?? []
    }
}

extension GeneralName {
    /// A name clients use: a DNS name, or an IP address as its bytes.
    init(clientName name: String) {
        switch IPAddress(name) {
        case .v4(let value):
            let bytes = [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
            self = .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        case .v6(let bytes):
            self = .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
        case nil:
            self = .dnsName(name)
        }
    }

    /// A DNS name as written, an IP address as text; `nil` for other kinds of names.
    var clientName: String? {
        switch self {
        case .dnsName(let text): return text
        case .ipAddress(let octets):
            let bytes = Array(octets.bytes)
            if bytes.count == 4 { return IPAddress.v4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }).description }
            return bytes.count == 16 ? IPAddress.v6(bytes).description : nil
        default: return nil
        }
    }
}
