import Foundation
import Synchronization

/// A certificate authority made by the `openssl` command, as an administrator makes one, and certificates it signs.
package struct TestCertificateAuthority: Sendable {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// The CA's certificate (PEM): what clients trust (`curl --cacert`).
    package let certificatePath: String
    package let keyPath: String
    /// Where the CA keeps its files and the certificates it issues.
    package let directory: String

    /// A new CA (ECDSA P-256, valid ten years) in `directory`, which is created.
    package static func make(in directory: String, name: String = "CacheNode Test CA") throws
        -> TestCertificateAuthority
    {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = TestCertificateAuthority(
            certificatePath: directory + "/ca.pem",
            keyPath: directory + "/ca.key",
            directory: directory
        )
        try Self.openssl(
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            authority.keyPath,
            "-out",
            authority.certificatePath,
            "-days",
            "3650",
            "-subj",
            "/CN=\(name)",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign"
        )
        try "".write(toFile: directory + "/index.txt", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: directory + "/serial", atomically: true, encoding: .utf8)
        return authority
    }

    /// A server certificate and its new key for `names` (DNS names and IP addresses as subject alternative names, the
    /// first as CN), written as `<file>.pem` and `<file>.key` in the CA's directory; `expired` gives one whose validity
    /// ended a day ago, else it is valid from a day ago for `validDays`. Returns the paths.
    package func issue(names: [String], validDays: Int = 90, expired: Bool = false, file: String) throws
        -> (certificate: String, key: String)
    {
        let base = directory + "/" + file
        let (certificate, key, request) = (base + ".pem", base + ".key", base + ".csr")
        try Self.openssl(
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            key,
            "-out",
            request,
            "-subj",
            "/CN=\(names.first ?? "localhost")"
        )
        let alternatives = names.map { AddressText.isAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        let configuration = """
            [ca]
            default_ca = test
            [test]
            database = \(directory)/index.txt
            serial = \(directory)/serial
            new_certs_dir = \(directory)
            default_md = sha256
            policy = anything
            unique_subject = no
            copy_extensions = none
            [anything]
            commonName = supplied
            [server]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = \(alternatives)

            """
        try configuration.write(toFile: base + ".cnf", atomically: true, encoding: .utf8)
        let day: TimeInterval = 86_400
        let start = Date().addingTimeInterval(expired ? -(Double(validDays) + 2) * day : -day)
        let end = expired ? Date().addingTimeInterval(-day) : start.addingTimeInterval(Double(validDays + 1) * day)
        // `openssl ca` keeps one serial and index file per CA: tests that issue at the same time take turns.
        try Self.signing.withLock { _ in
            try Self.openssl(
                "ca",
                "-batch",
                "-notext",
                "-config",
                base + ".cnf",
                "-extensions",
                "server",
                "-cert",
                certificatePath,
                "-keyfile",
                keyPath,
                "-in",
                request,
                "-out",
                certificate,
                "-startdate",
                Self.stamp(start),
                "-enddate",
                Self.stamp(end)
            )
        }
        return (certificate, key)
    }

    private static let signing = Mutex(())

    /// `YYYYMMDDHHMMSSZ`, as `openssl ca` takes dates.
    private static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    private static func openssl(_ arguments: String...) throws {
        let result = try ChildProcess.run(["openssl"] + arguments)
        guard result.status == 0 else {
            throw Failure(description: "openssl \(arguments.first ?? "") failed (\(result.status)): \(result.stderr)")
        }
    }
}

/// Tells IP addresses from DNS names for subject alternative names.
private enum AddressText {
    static func isAddress(_ text: String) -> Bool {
        var address = in6_addr()
        var address4 = in_addr()
        return inet_pton(AF_INET, text, &address4) == 1 || inet_pton(AF_INET6, text, &address) == 1
    }
}
