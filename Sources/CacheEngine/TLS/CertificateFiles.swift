import CacheNodeCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where the TLS listener's certificate, key and optional chain are, and what they look like on disk now.
struct CertificateFiles: Equatable, Sendable {
    var certificate: String
    var key: String
    var chain: String?

    init(certificate: String, key: String, chain: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.chain = chain
    }

    init(_ https: NodeConfiguration.HTTPS) {
        self.init(certificate: https.certificateFile, key: https.keyFile, chain: https.chainFile)
    }

    var paths: [String] { [certificate, key] + (chain.map { [$0] } ?? []) }

    /// One file as `stat` sees it through symbolic links; `nil` when it does not exist (or cannot be reached).
    struct Stamp: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        }
    }

    /// Every file's stamp: any change (a rewrite, an atomic rename, a symbolic link pointed elsewhere) changes it.
    func stamps() -> [Stamp?] {
        paths.map { Stamp(path: $0) }
    }
}
