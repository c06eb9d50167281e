import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Testing

/// On a real install the engine reads the certificate and key as its service account, not as root: setup refuses files
/// that account cannot read, naming the answer-file key and what keeps it out.
struct ServiceAccountReadTests {
    /// An account that owns nothing here and is in none of the files' groups (nobody's ids).
    static let stranger = ServiceAccount(uid: 65534, gid: 65534)

    @Test func aFileOrADirectoryOnTheWayThatShutsTheAccountOutIsNamed() throws {
        let folder = NSTemporaryDirectory() + "service-read-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/private", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = folder + "/private/node.key"
        try "key".write(toFile: key, atomically: true, encoding: .utf8)
        chmod(folder, 0o755)
        chmod(folder + "/private", 0o755)

        chmod(key, 0o600)
        let closed = try #require(Self.stranger.cannotRead(key))
        #expect(closed.hasPrefix("the service account cachenode may not read \(key) ("), "\(closed)")
        #expect(closed.hasSuffix("mode 0600)"), "\(closed)")
        chmod(key, 0o644)
        #expect(Self.stranger.cannotRead(key) == nil)
        chmod(folder + "/private", 0o700)
        let entered = try #require(Self.stranger.cannotRead(key))
        #expect(entered.hasPrefix("the service account cachenode may not enter \(folder)/private ("), "\(entered)")
        // Through a symbolic link the file it points at is judged.
        chmod(folder + "/private", 0o755)
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.key", withDestinationPath: key)
        #expect(Self.stranger.cannotRead(folder + "/link.key") == nil)
        chmod(key, 0o600)
        #expect(Self.stranger.cannotRead(folder + "/link.key")?.contains("may not read \(key)") == true)
        // Its owner reads what others may not.
        let owner = ServiceAccount(uid: getuid(), gid: getgid())
        #expect(owner.cannotRead(key) == nil)
    }

    @Test func setupRefusesAKeyTheEngineCannotReadAtItsKeyPath() async throws {
        let folder = NSTemporaryDirectory() + "service-setup-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try TestCertificateAuthority.make(in: folder + "/ca")
        let issued = try authority.issue(names: ["cache.test"], file: "node")
        chmod(folder, 0o755)
        chmod(folder + "/ca", 0o755)
        chmod(issued.certificate, 0o644)
        chmod(issued.key, 0o600)
        let https = NodeConfiguration.HTTPS(
            listen: "0.0.0.0:443",
            certificateFile: issued.certificate,
            keyFile: issued.key,
            chainFile: authority.certificatePath,
            names: ["cache.test"]
        )
        let layout = InstallLayout(root: "/", state: "/var/lib/cachenode")
        let check = CertificateCheck(requiredNames: ["cache.test"])
        let issues = await HTTPSSetup.problems(
            https,
            names: ["cache.test"],
            layout: layout,
            account: Self.stranger,
            check: check
        )
        #expect(issues.map(\.keyPath) == ["engine.https.key_file"], "\(issues)")
        #expect(issues.first?.description.contains("may not read \(issued.key)") == true, "\(issues)")
        chmod(issued.key, 0o644)
        chmod(authority.certificatePath, 0o644)
        let readable = await HTTPSSetup.problems(
            https,
            names: ["cache.test"],
            layout: layout,
            account: Self.stranger,
            check: check
        )
        #expect(readable.isEmpty, "\(readable)")
    }
}
