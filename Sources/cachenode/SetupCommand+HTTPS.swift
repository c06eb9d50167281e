import CacheNodeCore
import Installer

extension SetupCommand {
    /// What the wizard's HTTPS step sees at a certificate, key or chain path the answers name: the file as the engine
    /// will read it, below --root for a trial.
    static func certificateFileFacts(_ layout: InstallLayout) -> @Sendable (String) -> FileFacts? {
        { path in FileProbe.facts(at: layout.onDisk(path)) }
    }
}
