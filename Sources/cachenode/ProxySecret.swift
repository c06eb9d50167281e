import CacheNodeCore
import Installer

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps the upstream proxy's password out of every configuration: setup writes it to a file of its own (0600) that
/// `engine.upstream_proxy_password_file` names, and the URL keeps only the user.
enum ProxySecret {
    /// Where setup puts the password when the answers name no file, relative to the state directory.
    static let fileName = "upstream-proxy.password"
    /// The password given at setup time without writing it anywhere (for the answer-file path).
    static let environmentVariable = "CACHENODE_PROXY_PASSWORD"

    /// Moves a password from the URL (or from the environment) into a secret file; returns the files to write,
    /// by path as configured. Fails when a named password file is missing and no password is given.
    static func separate(
        _ configuration: inout NodeConfiguration,
        layout: InstallLayout,
        environment: String? = getenv(environmentVariable).map { String(cString: $0) }
    ) throws(CommandFailure) -> [String: String] {
        guard let url = configuration.engine.upstreamProxy, let proxy = ProxyURL(url) else { return [:] }
        var password = proxy.password
        if password == nil, proxy.user != nil, configuration.engine.upstreamProxyPasswordFile == nil,
            let environment, !environment.isEmpty
        {
            password = environment
        }
        guard let password else {
            if let user = proxy.user, configuration.engine.upstreamProxyPasswordFile == nil {
                throw CommandFailure(
                    .invalid,
                    "engine.upstream_proxy names user \(user) but no password (set upstream_proxy_password_file, "
                        + "or give the password in \(environmentVariable) when running setup)"
                )
            }
            if let file = configuration.engine.upstreamProxyPasswordFile, !FileSystem.exists(layout.onDisk(file)) {
                // Name the path looked at: under --root that is not the path the answers give.
                let below =
                    layout.isRealInstall
                    ? ""
                    : "with --root every path of the answers lies below \(layout.root), so \(file) is read from "
                        + "\(layout.onDisk(file)); "
                throw CommandFailure(
                    .invalid,
                    "engine.upstream_proxy_password_file: \(layout.onDisk(file)) does not exist (\(below)write the "
                        + "password there, mode 0600, or give it in \(environmentVariable))"
                )
            }
            return [:]
        }
        let file = configuration.engine.upstreamProxyPasswordFile ?? configuration.storage.state + "/" + fileName
        configuration.engine.upstreamProxy = ProxyURL.removingPassword(url)
        configuration.engine.upstreamProxyPasswordFile = file
        return [file: password + "\n"]
    }
}
