import CacheNodeCore
import Foundation
import SwiftASN1
import X509

/// A certificate as read from a PEM file: the parsed form, and the document to write it back byte for byte.
package struct PEMCertificate: Equatable, Sendable {
    package var certificate: Certificate
    package var document: PEMDocument

    /// Whether it names itself as its issuer and its own key signed it: a root.
    var isSelfSigned: Bool {
        certificate.subject == certificate.issuer
            && certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
    }
}

/// PEM certificates and keys read from files, every error naming the file.
enum PEMFiles {
    /// At most this much is read of a certificate or key file.
    static let sizeLimit = 1 << 20

    static func text(_ path: String) throws(CertificateError) -> String {
        do {
            return try TextFile.read(path, limit: sizeLimit)
        } catch .cannotOpen(_, let reason) {
            throw .file(path: path, problem: reason)
        } catch {
            throw .file(path: path, problem: "\(error)".replacingOccurrences(of: "\(path): ", with: ""))
        }
    }

    /// Every certificate in the file, in order; none is an error.
    static func certificates(_ path: String) throws(CertificateError) -> [PEMCertificate] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: try text(path))
        } catch let error as CertificateError {
            throw error
        } catch {
            throw .file(path: path, problem: "not PEM: \(error)")
        }
        var found: [PEMCertificate] = []
        for document in documents where document.discriminator == Certificate.defaultPEMDiscriminator {
            do {
                found.append(PEMCertificate(certificate: try Certificate(pemDocument: document), document: document))
            } catch {
                throw .file(path: path, problem: "certificate \(found.count + 1) cannot be read: \(error)")
            }
        }
        guard !found.isEmpty else { throw .noCertificate(path: path) }
        return found
    }

    /// The private key in the file, and the file's bytes (written as they are when the key is installed).
    static func key(_ path: String) throws(CertificateError) -> (key: Certificate.PrivateKey, bytes: [UInt8]) {
        let text = try text(path)
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            guard let document = documents.first(where: { $0.discriminator.hasSuffix("PRIVATE KEY") }) else {
                throw CertificateError.unreadableKey(path: path, problem: "no -----BEGIN ... PRIVATE KEY----- block")
            }
            return (try Certificate.PrivateKey(pemDocument: document), Array(text.utf8))
        } catch let error as CertificateError {
            throw error
        } catch {
            throw .unreadableKey(path: path, problem: "\(error)")
        }
    }

    /// Certificates as one PEM text, each ending in a newline.
    static func pem(_ certificates: [PEMCertificate]) -> [UInt8] {
        Array(certificates.map { $0.document.pemString + "\n" }.joined().utf8)
    }
}
