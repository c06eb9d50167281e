import CacheNodeCore
import Crypto
import Foundation
import SwiftASN1
import X509

extension CertificateStatus {
    /// What `/status` shows of a certificate: subject and issuer, its names, validity and SHA-256 fingerprint.
    init(_ certificate: Certificate, der: [UInt8]) {
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
    static func text(_ name: DistinguishedName) -> String {
        name.reversed().map { String(describing: $0) }.joined(separator: ", ")
    }

    /// The subject alternative names: DNS names as written, IP addresses as text.
    static func names(_ certificate: Certificate) -> [String] {
        guard let alternatives = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return alternatives.compactMap { name in
            switch name {
            case .dnsName(let text): text
            case .ipAddress(let octets): address(Array(octets.bytes))
            default: nil
            }
        }
    }

    private static func address(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: IPAddress.v4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }).description
        case 16: IPAddress.v6(bytes).description
        default: nil
        }
    }

    /// `SHA256:` and the digest of the DER certificate in hex pairs, as `openssl x509 -fingerprint -sha256` prints it.
    static func fingerprint(der: [UInt8]) -> String {
        "SHA256:" + SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
    }
}
