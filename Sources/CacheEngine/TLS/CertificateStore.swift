import CacheNodeCore
import Foundation
import Logging
import NIOSSL
import Synchronization

/// The TLS listener's certificate as it stands: the server context each new connection takes, and what `/status`
/// says of it.
///
/// `reload()` reads the files now (SIGHUP, `CacheEngine.reloadCertificates()`); `reloadIfChanged()` reads them only
/// when a file's stamp changed since the last attempt (the engine's watch). A reload that fails keeps serving the
/// previous certificate and says why; a connection keeps the context its handshake began with.
final class CertificateStore: Sendable {
    private struct State {
        var served: LoadedCertificate?
        var loadedAt: Date?
        /// Why the files on disk are not what is served, after the last attempt.
        var problem: String?
        /// The files' stamps at the last attempt; `nil` before the first.
        var attempted: [CertificateFiles.Stamp?]?
    }

    let files: CertificateFiles
    private let state = Mutex(State())
    private let logger: Logger

    init(files: CertificateFiles, logger: Logger) {
        self.files = files
        self.logger = logger
    }

    /// The context for a new connection; `nil` while no certificate could be loaded (handshakes are refused).
    var context: NIOSSLContext? { state.withLock { $0.served?.context } }

    /// The certificate served, when it was loaded, and the problem of the last attempt.
    func status(listen: String, requiredNames: [String]) -> HTTPSStatus {
        state.withLock { state in
            HTTPSStatus(
                listen: listen,
                requiredNames: requiredNames,
                certificate: state.served?.status,
                problem: state.problem,
                loadedAt: state.loadedAt
            )
        }
    }

    /// Reads the files now; on failure the previous certificate (if any) stays served. Returns the outcome.
    @discardableResult
    func reload() -> Result<CertificateStatus, TLSCertificateError> {
        let stamps = files.stamps()
        let outcome = Result { () throws(TLSCertificateError) in try LoadedCertificate.load(files) }
        let keptPrevious = state.withLock { state -> Bool in
            state.attempted = stamps
            switch outcome {
            case .success(let loaded):
                state.served = loaded
                state.loadedAt = Date()
                state.problem = nil
            case .failure(let error):
                let kept = state.served != nil ? "the certificate loaded before is still served: " : ""
                state.problem = kept + error.description
            }
            return state.served != nil
        }
        log(outcome, keptPrevious: keptPrevious)
        return outcome.map(\.status)
    }

    /// Reads the files when one of them changed since the last attempt; returns whether it did.
    @discardableResult
    func reloadIfChanged() -> Bool {
        let stamps = files.stamps()
        guard state.withLock({ $0.attempted != stamps }) else { return false }
        reload()
        return true
    }

    private func log(_ outcome: Result<LoadedCertificate, TLSCertificateError>, keptPrevious: Bool) {
        switch outcome {
        case .success(let loaded):
            logger.info(
                "TLS certificate loaded",
                metadata: [
                    "tls.subject": "\(loaded.status.subject)",
                    "tls.names": "\(loaded.status.names.joined(separator: ","))",
                    "tls.not_after": "\(loaded.status.notAfter)",
                    "tls.fingerprint": "\(loaded.status.fingerprint)",
                ]
            )
        case .failure(let error):
            logger.error(
                keptPrevious
                    ? "TLS certificate files not loaded; the previous certificate is still served"
                    : "TLS certificate files not loaded; HTTPS handshakes are refused",
                metadata: ["tls.certificate": "\(files.certificate)", "error": "\(error)"]
            )
        }
    }
}
