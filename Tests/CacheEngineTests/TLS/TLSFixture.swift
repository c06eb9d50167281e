import CacheNodeCore
import CacheNodeTestSupport
import Foundation

/// A test CA made by openssl and a certificate it issued for `localhost`, `127.0.0.1` and `origin.test` (the engine's
/// TLS listener and HTTPS test origins both serve it), made once per test run.
struct TLSFixture: Sendable {
    let authority: TestCertificateAuthority
    let certificate: String
    let key: String

    private static let made = Result { () throws -> TLSFixture in
        let authority = try TestCertificateAuthority.make(in: TestCacheDirectory(prefix: "cachenode-tls").root + "/ca")
        let issued = try authority.issue(names: ["localhost", "127.0.0.1", "origin.test"], file: "leaf")
        return TLSFixture(authority: authority, certificate: issued.certificate, key: issued.key)
    }

    static func shared() throws -> TLSFixture {
        try made.get()
    }

    /// A certificate from the shared CA (see `TestCertificateAuthority.issue`).
    func issue(names: [String], expired: Bool = false, file: String) throws -> (certificate: String, key: String) {
        try authority.issue(names: names, expired: expired, file: file)
    }

    /// The CA's certificate: what clients trust.
    var caFile: String { authority.certificatePath }

    /// The names under which `trust` lists an HTTPS test origin.
    var originNames = ["127.0.0.1", "origin.test"]

    /// The fixture with an HTTPS test origin listed under `names` only.
    func listingOrigin(as names: [String]) -> TLSFixture {
        var fixture = self
        fixture.originNames = names
        return fixture
    }

    /// Lists `origin` (serving this fixture's certificate) as an HTTPS origin under `originNames` and trusts this CA
    /// for origin fetches.
    func trust(_ origin: TestOrigin, in configuration: inout NodeConfiguration) {
        configuration.engine.extraOrigins += originNames.map { "https://\($0):\(origin.port)" }
        configuration.engine.originCAFile = caFile
    }

    /// `engine.https` on an ephemeral loopback port with these files (or others).
    func https(
        certificate: String? = nil,
        key: String? = nil,
        handshakeTimeoutSeconds: Int = 10
    ) -> NodeConfiguration.HTTPS {
        NodeConfiguration.HTTPS(
            listen: "127.0.0.1:0",
            certificateFile: certificate ?? self.certificate,
            keyFile: key ?? self.key,
            names: ["localhost", "127.0.0.1"],
            handshakeTimeoutSeconds: handshakeTimeoutSeconds
        )
    }

    /// Copies the files to `directory` (a test that replaces them must not touch the shared ones).
    func copies(in directory: String) throws -> (certificate: String, key: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let paths = (directory + "/certificate.pem", directory + "/key.pem")
        try FileManager.default.copyItem(atPath: certificate, toPath: paths.0)
        try FileManager.default.copyItem(atPath: key, toPath: paths.1)
        return paths
    }
}
