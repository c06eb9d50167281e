import CacheNodeCore
import Installer

extension SetupCommand {
    /// What the wizard's HTTPS step sees at a certificate, key or chain path the answers name: the file as the engine
    /// will read it, below --root for a trial.
    static func certificateFileFacts(_ layout: InstallLayout) -> @Sendable (String) -> FileFacts? {
        { path in FileProbe.facts(at: layout.onDisk(path)) }
    }

    /// After an install that made a certificate request and has no certificate yet: where the request is and how to
    /// finish; `nil` otherwise.
    static func httpsNextStep(_ configuration: NodeConfiguration, root: String) -> String? {
        guard let https = configuration.engine.https else { return nil }
        let layout = InstallLayout(root: root, state: configuration.storage.state)
        let files = NodeConfiguration.HTTPS.defaultFiles(state: configuration.storage.state)
        guard https.certificateFile == files.certificate, !FileSystem.exists(layout.onDisk(files.certificate)) else {
            return nil
        }
        let rootOption = layout.isRealInstall ? "" : " --root \(root)"
        return "HTTPS: have \(layout.onDisk(files.request)) signed by your organisation's CA, then run "
            + "`cachenode cert install\(rootOption) CERT`; clients must trust that CA."
    }
}
