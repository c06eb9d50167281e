import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

/// The upstream proxy's password, from `engine.upstream_proxy_password_file`: through systemd's credentials when the
/// unit passes it (`LoadCredential=`, so the file can stay root's), else read directly.
enum ProxyPassword {
    /// The credential name the unit gives the password file.
    static let credential = "upstream-proxy-password"

    static func read(_ path: String) throws(EngineError) -> String {
        var source = path
        if let directory = getenv("CREDENTIALS_DIRECTORY").map({ String(cString: $0) }), !directory.isEmpty,
            access(directory + "/" + credential, R_OK) == 0
        {
            source = directory + "/" + credential
        }
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.read(source)
        } catch {
            throw .resources("engine.upstream_proxy_password_file: cannot read \(source): \(error)")
        }
        guard let bytes else {
            throw .resources("engine.upstream_proxy_password_file: \(source) does not exist")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty, !text.contains("\n") else {
            throw .resources("engine.upstream_proxy_password_file: \(source) must hold the password on one line")
        }
        return text
    }
}
