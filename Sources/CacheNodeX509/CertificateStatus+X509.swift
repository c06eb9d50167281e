import CacheNodeCore
import Crypto
import Foundation
import SwiftASN1
import X509

extension CertificateStatus {
    /// What `/status`, `cachenode cert install` and `cachenode policy` tell of a certificate: subject and issuer, its
    /// names, validity and SHA-256 fingerprint.
    package init(_ certificate: Certificate, der: [UInt8]) {
        self.init(
            subject: Self.text(certificate.subject),
            issuer: Self.text(certificate.issuer),
            names: Self.names(certificate),
            notBefore: certificate.notValidBefore,
            notAfter: certificate.notValidAfter,
            fingerprint: Self.fingerprint(der: der)
        )
    }

    /// `CN=cache.contoso.org, O=Contoso`: most specific first, as `openssl x509 -subject` prints it.
    package static func text(_ name: DistinguishedName) -> String {
        name.reversed().map { String(describing: $0) }.joined(separator: ", ")
    }

    /// The subject alternative names: DNS names as written, IP addresses as text.
    package static func names(_ certificate: Certificate) -> [String] {
        let alternatives = (try? certificate.extensions.subjectAlternativeNames) ?? nil
        return alternatives.map { $0.compactMap(\.clientName) } ?? []
    }

    /// `SHA256:` and the digest of the DER certificate in hex pairs, as `openssl x509 -fingerprint -sha256` prints it.
    package static func fingerprint(der: some DataProtocol) -> String {
        "SHA256:" + SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
    }
}

extension GeneralName {
    /// A name clients use: a DNS name, or an IP address as its bytes.
    package init(clientName name: String) {
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
    package var clientName: String? {
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
