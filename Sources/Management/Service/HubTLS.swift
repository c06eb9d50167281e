import CacheNodeCore
import CacheNodeX509
import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SwiftASN1
import Synchronization
import X509

/// The hub service's TLS identity: a certificate and key the operator gives, or a self-signed pair made at first start
/// and kept in the state directory (`hub-tls/`, the key mode 0600). Nodes pin the certificate's SHA-256 fingerprint.
package struct HubIdentity: Sendable {
    package var certificate: NIOSSLCertificate
    package var key: NIOSSLPrivateKey
    /// Where the files are, for `hub info`.
    package var certificatePath: String

    /// `SHA256:` and the DER certificate's digest in hex pairs, as `openssl x509 -fingerprint -sha256` prints it.
    package var fingerprint: String { Self.fingerprint(of: certificate) }

    package static func fingerprint(of certificate: NIOSSLCertificate) -> String {
        let der = (try? certificate.toDERBytes()) ?? []
        return CertificateStatus.fingerprint(der: der)
    }

    /// A fingerprint as typed by a person: `SHA256:` optional, colons optional, any case.
    package static func normalised(_ text: String) -> String? {
        var hex = text.trimmingCharacters(in: .whitespaces)
        if hex.uppercased().hasPrefix("SHA256:") { hex = String(hex.dropFirst("SHA256:".count)) }
        hex = hex.replacingOccurrences(of: ":", with: "").uppercased()
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        var pairs: [String] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            pairs.append(String(hex[index..<next]))
            index = next
        }
        return "SHA256:" + pairs.joined(separator: ":")
    }

    /// The operator's certificate (PEM; a chain's first certificate is the hub's) and key.
    package static func load(certificate certificatePath: String, key keyPath: String) throws -> HubIdentity {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            guard let first = chain.first else { throw HubTLSError("\(certificatePath) holds no certificate") }
            return HubIdentity(
                certificate: first,
                key: try NIOSSLPrivateKey(file: keyPath, format: .pem),
                certificatePath: certificatePath
            )
        } catch let error as HubTLSError {
            throw error
        } catch {
            throw HubTLSError("cannot read the TLS certificate \(certificatePath) or key \(keyPath): \(error)")
        }
    }

    /// The identity in `directory` (`certificate.pem`, `key.pem`), made now when there is none: an ECDSA P-256 key and
    /// a self-signed certificate for `names` (host names and addresses nodes may use), valid for ten years.
    package static func loadOrCreate(directory: String, names: [String], now: Date = Date()) throws -> HubIdentity {
        let certificatePath = directory + "/certificate.pem"
        let keyPath = directory + "/key.pem"
        if FileManager.default.fileExists(atPath: certificatePath) && FileManager.default.fileExists(atPath: keyPath) {
            return try load(certificate: certificatePath, key: keyPath)
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName {
                CommonName("CacheNode hub \(names.first ?? "")")
                OrganizationName("CacheNode")
            }
            var alternatives: [GeneralName] = []
            for item in names {
                switch IPAddress(item) {
                case .v4(let value):
                    let bytes: [UInt8] = [
                        UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF),
                    ]
                    alternatives.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
                case .v6(let bytes):
                    alternatives.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
                case nil:
                    alternatives.append(.dnsName(item))
                }
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(alternatives)
                },
                issuerPrivateKey: .init(key)
            )
            // The key first, created 0600 (never readable by others, not even for a moment); the certificate last, so a
            // directory with both files always holds a matching pair.
            guard
                FileManager.default.createFile(
                    atPath: keyPath,
                    contents: Data(key.pemRepresentation.utf8),
                    attributes: [.posixPermissions: 0o600]
                ),
                FileManager.default.createFile(
                    atPath: certificatePath,
                    contents: Data(try certificate.serializeAsPEM().pemString.utf8),
                    attributes: [.posixPermissions: 0o644]
                )
            else { throw HubTLSError("cannot write \(keyPath) and \(certificatePath)") }
        } catch {
            throw HubTLSError("cannot make the hub's TLS certificate in \(directory): \(error)")
        }
        return try load(certificate: certificatePath, key: keyPath)
    }

    /// The server side of TLS 1.2 and 1.3 with this identity.
    package func serverContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)],
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}

/// How a node or an operator trusts the hub service's certificate.
package enum HubTrust: Codable, Equatable, Sendable {
    /// Only the certificate with this fingerprint (`hub serve` and `hub info` print it): the hub's self-signed one.
    case fingerprint(String)
    /// Certificates issued by the CA in this PEM file, for the names they carry.
    case authority(String)
    /// The system's trusted CAs.
    case system

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case authority = "ca_file"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let fingerprint = try container.decodeIfPresent(String.self, forKey: .fingerprint) {
            self = .fingerprint(fingerprint)
        } else if let file = try container.decodeIfPresent(String.self, forKey: .authority) {
            self = .authority(file)
        } else {
            self = .system
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .fingerprint(let value): try container.encode(value, forKey: .fingerprint)
        case .authority(let file): try container.encode(file, forKey: .authority)
        case .system: break
        }
    }

    /// The trust the command-line options name: a fingerprint, a CA file, or neither (the system's CAs).
    package static func from(fingerprint: String?, caFile: String?) throws -> HubTrust {
        switch (fingerprint, caFile) {
        case (.some, .some):
            throw HubTLSError("give --hub-fingerprint or --hub-ca, not both")
        case (.some(let text), nil):
            guard let value = HubIdentity.normalised(text) else {
                throw HubTLSError(
                    "--hub-fingerprint '\(text)' is not a SHA-256 fingerprint (64 hex digits, as `cachenode hub info` prints)"
                )
            }
            return .fingerprint(value)
        case (nil, .some(let file)):
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw HubTLSError("--hub-ca: cannot read \(file)")
            }
            return .authority(file)
        case (nil, nil):
            return .system
        }
    }
}

package struct HubTLSError: Error, Equatable, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}

/// Learns the certificate a TLS server presents, and accepts it only if its fingerprint is the pinned one: the
/// handshake fails otherwise, before a byte of HTTP (a token, a key) is sent.
enum HubCertificateProbe {
    static func pinned(host: String, port: Int, fingerprint: String, timeout: TimeAmount) async throws
        -> NIOSSLCertificate
    {
        var configuration = TLSConfiguration.makeClientConfiguration()
        // Verification on (with `.none` BoringSSL never asks), decided by the callback below alone: the pinned
        // fingerprint, whatever CA or names the certificate has.
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let seen = SeenCertificate()
        let handshake = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = try NIOSSLClientHandler(
                            context: context,
                            serverHostname: IPAddress(host) == nil ? host : nil,
                            customVerificationCallback: { chain, promise in
                                guard let leaf = chain.first else {
                                    promise.succeed(.failed)
                                    return
                                }
                                seen.value.withLock { $0 = leaf }
                                promise.succeed(
                                    HubIdentity.fingerprint(of: leaf) == fingerprint ? .certificateVerified : .failed
                                )
                            }
                        )
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: handshake))
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            handshake.fail(error)
            throw HubTLSError("cannot connect to \(host):\(port): \(error)")
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            handshake.fail(HubTLSError("no TLS handshake within the timeout"))
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            try await handshake.futureResult.get()
        } catch {
            if let leaf = seen.value.withLock({ $0 }) {
                throw HubTLSError(
                    "the hub at \(host):\(port) presented a certificate with fingerprint \(HubIdentity.fingerprint(of: leaf)), "
                        + "not the pinned \(fingerprint) (`cachenode hub info` on the hub prints its own)"
                )
            }
            throw HubTLSError("no TLS handshake with \(host):\(port) (is it a hub service with TLS?): \(error)")
        }
        guard let leaf = seen.value.withLock({ $0 }) else {
            throw HubTLSError("the hub at \(host):\(port) presented no certificate")
        }
        return leaf
    }

    /// The certificate the server presented, once it did.
    final class SeenCertificate: Sendable {
        let value = Mutex<NIOSSLCertificate?>(nil)
    }

    /// Completes the promise when the TLS handshake ends, or fails it with the handshake's error.
    final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<Void>

        init(promise: EventLoopPromise<Void>) {
            self.promise = promise
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event { promise.succeed(()) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(HubTLSError("the connection closed during the TLS handshake"))
            context.fireChannelInactive()
        }
    }
}
