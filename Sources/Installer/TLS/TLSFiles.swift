import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// The files of a node's TLS listener on disk: those the engine serves, and a request waiting to be signed.
package struct TLSFiles: Equatable, Sendable {
    package var certificate: String
    package var key: String
    package var chain: String?
    /// The key of the pending request: kept apart so the key the engine serves with is never overwritten before its
    /// certificate is.
    package var requestKey: String
    /// The pending request (CSR, PEM), which the CA signs.
    package var request: String

    /// The files `https` names, under `layout`'s root; the request beside `<state>/tls/request.csr`.
    package init(_ https: NodeConfiguration.HTTPS, layout: InstallLayout) {
        certificate = layout.onDisk(https.certificateFile)
        key = layout.onDisk(https.keyFile)
        chain = https.chainFile.map(layout.onDisk)
        request = layout.onDisk(NodeConfiguration.HTTPS.defaultFiles(state: layout.state).request)
        requestKey = Self.directory(of: request) + "/request.key"
    }

    /// The directory a file is in.
    static func directory(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    }

    /// Creates `directory` and its parents (mode 0750, given to `owner` when set); returns those it created,
    /// outermost first.
    @discardableResult
    static func makeDirectory(_ directory: String, owner: ServiceAccount?) throws(CertificateError) -> [String] {
        let created: [String]
        do { created = try FileSystem.makeDirectories(directory, mode: 0o750) } catch {
            throw .file(path: directory, problem: "\(error)")
        }
        if let owner {
            for path in created where chown(path, owner.uid, owner.gid) != 0 {
                throw .file(path: path, problem: FileSystem.reason())
            }
        }
        return created
    }

    /// The engine's user, which owns the TLS files on a real install; `nil` under `--root`, where nothing changes
    /// owner.
    package static func owner(_ layout: InstallLayout) -> ServiceAccount? {
        layout.isRealInstall ? ServiceAccount.lookup() : nil
    }

    /// The certificate installed now, as `/status` would show it; `nil` when there is none or it cannot be read.
    package func installedCertificate() -> CertificateStatus? {
        (try? PEMFiles.certificates(certificate)).flatMap(\.first).map(CertificateStatus.init)
    }
}
