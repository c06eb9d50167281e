import CacheNodeCore
import Foundation

/// What setup does with `engine.https` before it changes anything: certificate and key files that are there are
/// checked as `cachenode cert install` checks them; when there is no certificate yet, the apply step makes a request.
package enum HTTPSSetup {
    /// The problems of the files `https` names, each at its answer-file key path; none when they are usable or the
    /// certificate is not there yet. With `account` (a real install) the engine's service account must be able to
    /// read them: setup runs as root, the engine does not.
    package static func problems(
        _ https: NodeConfiguration.HTTPS,
        names: [String],
        layout: InstallLayout,
        account: ServiceAccount? = nil,
        check: CertificateCheck? = nil
    ) async -> [ConfigurationIssue] {
        let files = TLSFiles(https, layout: layout)
        guard FileSystem.exists(files.certificate) else { return [] }
        guard FileSystem.exists(files.key) else {
            return [
                ConfigurationIssue(
                    "engine.https.key_file",
                    "\(files.key) does not exist, but the certificate \(files.certificate) does",
                    hint: "put the certificate's key there, or remove the certificate so that setup makes a request"
                )
            ]
        }
        if let account {
            let readable = [
                ("engine.https.certificate_file", files.certificate), ("engine.https.key_file", files.key),
                ("engine.https.chain_file", files.chain),
            ]
            let unreadable = readable.compactMap { key, path in
                path.flatMap(account.cannotRead).map {
                    ConfigurationIssue(
                        key,
                        $0,
                        hint: "give the file to the account (chown \(ServiceAccount.name) FILE, or its group), or "
                            + "install copies it can read: cachenode cert install --key KEY CERT"
                    )
                }
            }
            if !unreadable.isEmpty { return unreadable }
        }
        let check = check ?? CertificateCheck(requiredNames: names)
        do {
            _ = try await check.check(certificate: files.certificate, chain: files.chain, keys: [files.key])
            return []
        } catch {
            return [ConfigurationIssue(keyPath(of: error, files: files), error.description)]
        }
    }

    /// The answer-file key a problem belongs to.
    static func keyPath(of error: CertificateError, files: TLSFiles) -> String {
        switch error {
        case .unreadableKey, .keyMismatch: return "engine.https.key_file"
        case .file(let path, _) where path == files.key: return "engine.https.key_file"
        case .file(let path, _) where path == files.chain, .noCertificate(let path) where path == files.chain:
            return "engine.https.chain_file"
        case .chain where files.chain != nil: return "engine.https.chain_file"
        default: return "engine.https.certificate_file"
        }
    }

    /// What setup tells once installed: a request waiting to be signed, or HTTPS turned off with its files kept.
    package static func notices(
        _ configuration: NodeConfiguration,
        previous: NodeConfiguration?,
        layout: InstallLayout
    ) -> [String] {
        if let https = configuration.engine.https {
            let files = TLSFiles(https, layout: layout)
            guard !FileSystem.exists(files.certificate),
                let pending = CertificateRequester(files: files, owner: nil).pending()
            else { return [] }
            let root = layout.isRealInstall ? "" : " --root \(layout.root)"
            return [
                "HTTPS: the certificate request is \(pending.request) (names \(pending.names.joined(separator: ", "))).",
                "  Have your CA sign it; HTTPS starts once you run: cachenode cert install\(root) CERT [--chain FILE]",
            ]
        }
        guard let old = previous?.engine.https else { return [] }
        let files = TLSFiles(old, layout: layout)
        let kept = [files.certificate, files.key, files.chain, files.request, files.requestKey]
            .compactMap { $0 }.filter(FileSystem.exists)
        guard !kept.isEmpty else { return ["HTTPS is off."] }
        return [
            "HTTPS is off. Its files stay where they are: \(kept.joined(separator: ", "))",
            "  (they serve again if HTTPS is turned back on; remove them when they are no longer needed)",
        ]
    }
}
