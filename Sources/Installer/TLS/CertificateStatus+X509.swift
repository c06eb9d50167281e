import CacheNodeCore
import CacheNodeX509

extension CertificateStatus {
    /// A certificate read from a PEM file, as `/status` shows it.
    package init(_ pem: PEMCertificate) {
        self.init(pem.certificate, der: Array(pem.document.derBytes))
    }
}
