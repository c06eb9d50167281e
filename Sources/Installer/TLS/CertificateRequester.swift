import CacheNodeCore
import CacheNodeX509
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// The key a request is made with: ECDSA P-256 unless a CA asks for RSA.
package enum KeyAlgorithm: String, CaseIterable, Sendable {
    case ecdsaP256 = "ecdsa-p256"
    case rsa2048 = "rsa-2048"

    func makeKey() throws(CertificateError) -> Certificate.PrivateKey {
        switch self {
        case .ecdsaP256:
            return Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .rsa2048:
            do {
                return Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
            } catch {
                throw .request(problem: "cannot make an RSA key: \(error)")
            }
        }
    }
}

/// A request waiting to be signed: its names as the CSR has them, and where its files are.
package struct PendingRequest: Equatable, Sendable {
    package var names: [String]
    package var request: String
    package var key: String
}

/// Makes a new key and a certificate signing request (CSR) for the names clients use, beside the files the engine
/// serves; `cert install` moves the key into place with its certificate.
package struct CertificateRequester: Sendable {
    package var files: TLSFiles
    /// The engine's user on a real install, which must own the key; `nil` under `--root`.
    package var owner: ServiceAccount?

    package init(files: TLSFiles, owner: ServiceAccount?) {
        self.files = files
        self.owner = owner
    }

    /// The problem with a name for a request, when it is not a host name or an IP address.
    package static func nameProblem(_ name: String) -> String? {
        guard IPAddress(name) == nil, !OriginAllowlist.isValidHostName(name) else { return nil }
        return "'\(name)' is not a host name or IP address (the names clients use in DOCacheHost, as "
            + "cache.example.org or 10.0.0.50)"
    }

    /// Writes a new key (mode 0600) and the CSR for `names` (the first also the CN), replacing a pending request.
    /// Returns the directories it created, outermost first.
    @discardableResult
    package func make(names: [String], algorithm: KeyAlgorithm = .ecdsaP256) throws(CertificateError) -> [String] {
        if let problem = names.lazy.compactMap(Self.nameProblem).first { throw .invalidName(problem) }
        guard !names.isEmpty else { throw .invalidName("no name to request a certificate for") }
        let created = try TLSFiles.makeDirectory(TLSFiles.directory(of: files.request), owner: owner)
        let key = try algorithm.makeKey()
        let request = try Self.signingRequest(names: names, key: key)
        let keyPEM: String
        do { keyPEM = try key.serializeAsPEM().pemString + "\n" } catch { throw .request(problem: "\(error)") }
        // The key first: a CSR on disk always belongs to the key beside it.
        let stagedKey = try StagedFile.stage(Array(keyPEM.utf8), at: files.requestKey, mode: 0o600, owner: owner)
        let stagedRequest: StagedFile
        do {
            stagedRequest = try StagedFile.stage(Array(request.utf8), at: files.request, mode: 0o644, owner: owner)
        } catch {
            stagedKey.discard()
            throw error
        }
        try stagedKey.commit()
        try stagedRequest.commit()
        return created
    }

    /// The pending request, when its CSR and key are both there and belong together.
    package func pending() -> PendingRequest? {
        guard let text = try? PEMFiles.text(files.request),
            let request = try? CertificateSigningRequest(pemEncoded: text),
            let key = try? PEMFiles.key(files.requestKey),
            key.key.publicKey == request.publicKey
        else { return nil }
        let alternatives = (try? request.attributes.extensionRequest?.extensions.subjectAlternativeNames) ?? nil
        let names = alternatives.map { $0.compactMap(\.clientName) } ?? []
        return PendingRequest(names: names, request: files.request, key: files.requestKey)
    }

    /// The CSR (PEM): CN the first name, every name a subject alternative name.
    static func signingRequest(names: [String], key: Certificate.PrivateKey) throws(CertificateError) -> String {
        do {
            let subject = try DistinguishedName { CommonName(names[0]) }
            let extensions = try Certificate.Extensions {
                SubjectAlternativeNames(names.map(GeneralName.init(clientName:)))
            }
            let attributes = CertificateSigningRequest.Attributes(
                [try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))]
            )
            let request = try CertificateSigningRequest(
                version: .v1,
                subject: subject,
                privateKey: key,
                attributes: attributes
            )
            return try request.serializeAsPEM().pemString + "\n"
        } catch {
            throw .request(problem: "\(error)")
        }
    }
}
