import CacheNodeCore
import CacheNodeX509
import Foundation
@_spi(FixedExpiryValidationTime) import X509

/// A certificate that passed every check, ready to install: the node's certificate, the chain to send after it, and
/// its key.
package struct CheckedCertificate: Sendable {
    package var leaf: PEMCertificate
    /// The intermediates between the certificate and its root, in order (the root is not sent: clients have it).
    package var intermediates: [PEMCertificate]
    /// The root the chain ends at.
    package var root: PEMCertificate
    /// The key file that matched, and its bytes.
    package var keyPath: String
    package var keyBytes: [UInt8]
    package var status: CertificateStatus
}

/// The checks a certificate passes before the engine serves it: it matches a key, covers the names clients use, is
/// valid now and builds a chain to a trusted root. The first that fails is the error.
package struct CertificateCheck: Sendable {
    /// The names and addresses clients put in `DOCacheHost`.
    package var requiredNames: [String]
    package var now: Date
    /// Roots trusted besides the self-signed certificates in the given files.
    package var trustRoots: CertificateStore

    package init(requiredNames: [String], now: Date = Date(), trustRoots: CertificateStore = .systemTrustRoots) {
        self.requiredNames = requiredNames
        self.now = now
        self.trustRoots = trustRoots
    }

    /// Checks the certificate in `certificate` (further certificates there and in `chain` are its chain) against the
    /// keys in `keys`, tried in order (files that do not exist are skipped).
    package func check(certificate: String, chain: String?, keys: [String]) async throws(CertificateError)
        -> CheckedCertificate
    {
        let given = try PEMFiles.certificates(certificate) + (chain.map(PEMFiles.certificates) ?? [])
        let leaf = given[0]
        let (keyPath, keyBytes) = try matchingKey(leaf, certificate: certificate, keys: keys)
        let status = CertificateStatus(leaf)
        let missing = CertificateRules.uncovered(requiredNames, by: status.names)
        guard missing.isEmpty else {
            throw .namesUncovered(certificate: certificate, missing: missing, names: status.names)
        }
        guard leaf.certificate.notValidBefore <= now else {
            throw .notYetValid(certificate: certificate, notBefore: leaf.certificate.notValidBefore)
        }
        guard now < leaf.certificate.notValidAfter else {
            throw .expired(certificate: certificate, notAfter: leaf.certificate.notValidAfter)
        }
        let path = try await chainToRoot(leaf, others: Array(given.dropFirst()), certificate: certificate)
        return CheckedCertificate(
            leaf: leaf,
            intermediates: Array(path.dropFirst().dropLast()),
            root: path.last ?? leaf,
            keyPath: keyPath,
            keyBytes: keyBytes,
            status: status
        )
    }

    /// The first key of `keys` whose public half is the certificate's. A key file given alone must be readable.
    func matchingKey(_ leaf: PEMCertificate, certificate: String, keys: [String]) throws(CertificateError)
        -> (String, [UInt8])
    {
        let present = keys.filter(FileSystem.exists)
        for path in present {
            let key: (key: Certificate.PrivateKey, bytes: [UInt8])
            do { key = try PEMFiles.key(path) } catch {
                if keys.count == 1 { throw error }
                continue
            }
            if key.key.publicKey == leaf.certificate.publicKey { return (path, key.bytes) }
        }
        if keys.count == 1, present.isEmpty { throw .file(path: keys[0], problem: "no such file") }
        throw .keyMismatch(certificate: certificate, tried: present)
    }

    /// The chain from the certificate to a root, both ends included, from the given certificates and the trusted
    /// roots: RFC 5280 path validation at `now`.
    func chainToRoot(_ leaf: PEMCertificate, others: [PEMCertificate], certificate: String)
        async throws(CertificateError)
        -> [PEMCertificate]
    {
        let roots = others.filter(\.isSelfSigned)
        let intermediates = others.filter { !$0.isSelfSigned }
        let now = self.now
        var verifier = Verifier(rootCertificates: trustRoots.appending(contentsOf: roots.map(\.certificate))) {
            RFC5280Policy(fixedExpiryValidationTime: now)
        }
        let result = await verifier.validate(
            leaf: leaf.certificate,
            intermediates: CertificateStore(intermediates.map(\.certificate))
        )
        switch result {
        case .validCertificate(let chain):
            return chain.map { certificate in
                ([leaf] + others).first { $0.certificate == certificate }
                    ?? PEMCertificate(
                        certificate: certificate,
                        document: (try? certificate.serializeAsPEM()) ?? leaf.document
                    )
            }
        case .couldNotValidate(let failures):
            guard let failure = failures.first else {
                throw .chain(
                    certificate: certificate,
                    problem: "its issuer (\(CertificateStatus.text(leaf.certificate.issuer))) is neither trusted by "
                        + "this system nor among the certificates given"
                )
            }
            throw .chain(certificate: certificate, problem: "\(failure.policyFailureReason)")
        }
    }
}
