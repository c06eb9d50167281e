import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Puts a checked certificate, its chain and its key in the files the engine serves, each replaced atomically, and
/// ends a request the certificate was issued for.
package struct CertificateInstaller: Sendable {
    package var files: TLSFiles
    /// The engine's user on a real install, which owns the files; `nil` under `--root`.
    package var owner: ServiceAccount?

    package init(files: TLSFiles, owner: ServiceAccount?) {
        self.files = files
        self.owner = owner
    }

    /// One file's new content, and its content before (`nil`: it did not exist), to put back on failure.
    struct Change {
        var path: String
        var bytes: [UInt8]
        var mode: mode_t
        var previous: [UInt8]?
    }

    /// Replaces the files; returns the paths that changed. On failure every file is as it was.
    ///
    /// Every new file is written and synced beside its destination first, so no rename can fail for want of space.
    /// Then the key is renamed into place, then the chain, the certificate last. The engine loads a pair only when
    /// the key belongs to the certificate, and otherwise keeps serving the pair it has: between the renames it can
    /// meet the old certificate with the new key, which it refuses, and never half a file. The certificate's rename
    /// completes the pair, and the reload (or the engine's watch of the files) loads it. A failure between the
    /// renames puts the earlier files back; a crash there leaves the new key beside the old certificate, and the
    /// request key still in place (it goes last), so running `cert install` again with the same certificate finds
    /// the key and completes the pair.
    @discardableResult
    package func install(_ checked: CheckedCertificate) throws(CertificateError) -> [String] {
        let changes = try plannedChanges(checked).filter { $0.bytes != $0.previous }
        for directory in Set(changes.map { TLSFiles.directory(of: $0.path) }) {
            try TLSFiles.makeDirectory(directory, owner: owner)
        }
        var staged: [StagedFile] = []
        do {
            for change in changes {
                staged.append(try StagedFile.stage(change.bytes, at: change.path, mode: change.mode, owner: owner))
            }
        } catch {
            staged.forEach { $0.discard() }
            throw error
        }
        for (index, file) in staged.enumerated() {
            do { try file.commit() } catch {
                staged[(index + 1)...].forEach { $0.discard() }
                restore(Array(changes[..<index]))
                throw error
            }
        }
        if checked.keyPath == files.requestKey {
            // The request is done: its key is the one in use now.
            unlink(files.requestKey)
            unlink(files.request)
        }
        return changes.map(\.path)
    }

    /// The key, the chain file when one is configured, and the certificate, in the order they are renamed.
    func plannedChanges(_ checked: CheckedCertificate) throws(CertificateError) -> [Change] {
        var certificate = [checked.leaf]
        var changes = [Change(path: files.key, bytes: checked.keyBytes, mode: 0o600, previous: try previous(files.key))]
        if let chain = files.chain {
            // A chain file with no certificate is no chain file: with no intermediate it holds the root.
            let chainCertificates = checked.intermediates.isEmpty ? [checked.root] : checked.intermediates
            changes.append(
                Change(path: chain, bytes: PEMFiles.pem(chainCertificates), mode: 0o644, previous: try previous(chain))
            )
        } else {
            certificate += checked.intermediates
        }
        changes.append(
            Change(
                path: files.certificate,
                bytes: PEMFiles.pem(certificate),
                mode: 0o644,
                previous: try previous(files.certificate)
            )
        )
        return changes
    }

    private func previous(_ path: String) throws(CertificateError) -> [UInt8]? {
        do { return try FileSystem.contents(path) } catch { throw .file(path: path, problem: "\(error)") }
    }

    /// Puts files renamed already back as they were (best effort: the failure that led here is the error).
    private func restore(_ changes: [Change]) {
        for change in changes.reversed() {
            if let previous = change.previous {
                if let file = try? StagedFile.stage(previous, at: change.path, mode: change.mode, owner: owner) {
                    try? file.commit()
                }
            } else {
                unlink(change.path)
            }
        }
    }
}
