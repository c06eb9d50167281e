import CacheNodeCore
import CacheNodeX509
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate (with its chain) and the key that belongs to it, read from their files: the server context new TLS
/// connections take, and what `/status` shows of the certificate.
struct LoadedCertificate: Sendable {
    var context: NIOSSLContext
    var status: CertificateStatus

    /// Reads and checks the files: PEM certificates (the first is the node's, further ones and `chain` its chain),
    /// a PEM key that matches the node's certificate. TLS 1.2 and 1.3, ALPN `http/1.1`.
    static func load(_ files: CertificateFiles) throws(TLSCertificateError) -> LoadedCertificate {
        var chain = try certificates(in: files.certificate)
        if let path = files.chain { chain += try certificates(in: path) }
        let keyBytes = try contents(of: files.key, role: "key")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw .badKey(path: files.key, reason: "not a PEM private key without a passphrase (\(error))")
        }
        let der: [UInt8]
        let leaf: Certificate
        do {
            der = try chain[0].toDERBytes()
            leaf = try Certificate(derEncoded: der)
        } catch {
            throw .badCertificate(path: files.certificate, reason: "\(error)")
        }
        try checkMatch(leaf, keyPEM: String(decoding: keyBytes, as: UTF8.self), files: files)
        return LoadedCertificate(
            context: try serverContext(chain: chain, key: key, files: files),
            status: CertificateStatus(leaf, der: der)
        )
    }

    /// The server side: TLS 1.2 at least, 1.3 when the client has it, `http/1.1` by ALPN.
    static func serverContext(
        chain: [NIOSSLCertificate],
        key: NIOSSLPrivateKey,
        files: CertificateFiles
    ) throws(TLSCertificateError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .rejected(certificate: files.certificate, key: files.key, reason: "\(error)")
        }
    }

    /// The key's public half must be the certificate's: else every handshake would fail.
    private static func checkMatch(
        _ certificate: Certificate,
        keyPEM: String,
        files: CertificateFiles
    ) throws(TLSCertificateError) {
        let documents = (try? PEMDocument.parseMultiple(pemString: keyPEM)) ?? []
        // A key form swift-certificates does not read is left to BoringSSL, which checks the pair as well.
        guard let document = documents.first(where: { $0.discriminator.hasSuffix("PRIVATE KEY") }),
            let key = try? Certificate.PrivateKey(pemDocument: document)
        else { return }
        if key.publicKey != certificate.publicKey {
            throw .keyMismatch(certificate: files.certificate, key: files.key)
        }
    }

    /// Every PEM certificate in a file, at least one.
    private static func certificates(in path: String) throws(TLSCertificateError) -> [NIOSSLCertificate] {
        let bytes = try contents(of: path, role: "certificate")
        let found: [NIOSSLCertificate]
        do {
            found = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw .badCertificate(path: path, reason: "not PEM certificates (\(error))")
        }
        guard !found.isEmpty else { throw .badCertificate(path: path, reason: "it holds no PEM certificate") }
        return found
    }

    private static func contents(of path: String, role: String) throws(TLSCertificateError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path, role: role) }
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
    }
}

/// Why the TLS listener cannot serve its certificate files; each names the file and what to do.
package enum TLSCertificateError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(path: String, role: String)
    case unreadable(path: String, reason: String)
    case badCertificate(path: String, reason: String)
    case badKey(path: String, reason: String)
    case keyMismatch(certificate: String, key: String)
    case rejected(certificate: String, key: String, reason: String)

    package var description: String {
        switch self {
        case .missing(let path, let role):
            "the \(role) file \(path) does not exist (cachenode cert request makes a key and a request; "
                + "cachenode cert install installs the signed certificate)"
        case .unreadable(let path, let reason):
            "cannot read \(path): \(reason) (the engine's user must be able to read it)"
        case .badCertificate(let path, let reason):
            "\(path) is not a usable certificate file: \(reason)"
        case .badKey(let path, let reason):
            "\(path) is not a usable key file: \(reason)"
        case .keyMismatch(let certificate, let key):
            "the key \(key) does not belong to the certificate \(certificate) (its public key differs): "
                + "install the certificate issued for this key, or the key it was issued for"
        case .rejected(let certificate, let key, let reason):
            "TLS refuses the certificate \(certificate) with the key \(key): \(reason)"
        }
    }
}
