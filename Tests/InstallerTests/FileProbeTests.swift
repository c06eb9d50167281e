import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Installer
import Testing

/// The wizard's look at certificate and key files, on real files made by openssl.
struct FileProbeTests {
    @Test func anOpensslCertificateAndKeyAreReadableWithTheirPEMLabels() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try TestCertificateAuthority.make(in: directory)
        let leaf = try authority.issue(names: ["cache.contoso.org", "10.0.0.50"], file: "leaf")

        let certificate = FileProbe.facts(at: leaf.certificate)
        let key = FileProbe.facts(at: leaf.key)
        #expect(certificate == .readable(pemLabels: ["CERTIFICATE"]))
        #expect(certificate.problem(as: "certificate", label: "CERTIFICATE") == nil)
        #expect(key.problem(as: "private key", label: "PRIVATE KEY") == nil, "\(key)")
        #expect(
            key.problem(as: "certificate", label: "CERTIFICATE")
                == "holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)"
        )

        // A certificate with its chain after it: both blocks.
        let chained = directory + "/chained.pem"
        let text =
            try String(contentsOfFile: leaf.certificate, encoding: .utf8)
            + String(contentsOfFile: authority.certificatePath, encoding: .utf8)
        try text.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: chained, atomically: true, encoding: .utf8)
        #expect(FileProbe.facts(at: chained) == .readable(pemLabels: ["CERTIFICATE", "CERTIFICATE"]))
    }

    @Test func aMissingPathADirectoryAndTextThatIsNoPEMEachSaySo() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("probe-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let notes = directory + "/notes.txt"
        try "a certificate goes here\n".write(toFile: notes, atomically: true, encoding: .utf8)

        #expect(FileProbe.facts(at: directory + "/none.pem") == .missing)
        #expect(FileProbe.facts(at: notes + "/below-a-file.pem") == .missing)
        #expect(FileProbe.facts(at: directory) == .notAFile)
        #expect(FileProbe.facts(at: notes) == .readable(pemLabels: []))
        #expect(FileFacts.missing.problem(as: "certificate", label: "CERTIFICATE") == "no such file")
        #expect(FileFacts.notAFile.problem(as: "certificate", label: "CERTIFICATE") == "not a regular file")
        #expect(
            FileFacts.unreadable("Permission denied").problem(as: "private key", label: "PRIVATE KEY")
                == "cannot be read: Permission denied"
        )
    }
}
