import CacheNodeTestSupport
import Foundation
import Installer
import Testing

struct RedactionTests {
    @Test(arguments: [
        ("token: abc123", "token: <redacted>"),
        (#"  "token": "abc123","#, #"  "token": "<redacted>","#),
        ("api_key=abc123 other=1", "api_key=<redacted> other=1"),
        ("enrolment_key: 'k-1'", "enrolment_key: '<redacted>'"),
        ("password: hunter2", "password: <redacted>"),
        ("Authorization: Bearer abc.def", "Authorization: <redacted>"),
        (
            "upstream_proxy: http://proxy-user:s3cret@proxy.example.org:3128",
            "upstream_proxy: http://proxy-user:<redacted>@proxy.example.org:3128"
        ),
        (#"{"url":"http://hub:7000","token":"t-9"}"#, #"{"url":"http://hub:7000","token":"<redacted>"}"#),
    ])
    func secretsAreReplaced(_ input: String, _ expected: String) {
        #expect(Redaction.redact(input) == expected)
    }

    @Test(arguments: [
        "listen: 0.0.0.0:80",
        "upstream_proxy: http://proxy.example.org:3128",
        "name: Seattle-1",
        "10.0.0.9 GET /filestreamingservice/files/abc?P1=1 bytes=0-1048575 206 1048576 HIT 0.8ms",
        "block_size_kb: 1024",
    ])
    func everythingElseIsKept(_ input: String) {
        #expect(Redaction.redact(input) == input)
    }
}

struct SupportBundleTests {
    @Test func theBundleIsOneTarGzNamedAfterTheUTCTimeWithTheRedactedFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var bundle = SupportBundle(date: Date(timeIntervalSince1970: 1_795_000_000))
        bundle.add("summary.txt", "node: Seattle-1\n")
        bundle.add("configuration/hub-link.json", #"{"token":"t-secret"}"#, redacted: true)
        bundle.addFile("missing.log", from: directory + "/does-not-exist")
        let path = try await bundle.write(to: directory)
        #expect(path == directory + "/support_bundle_20261118T110640Z.tar.gz")

        let extract = directory + "/x"
        try FileManager.default.createDirectory(atPath: extract, withIntermediateDirectories: true)
        #expect(try ChildProcess.run(["tar", "-xzf", path, "-C", extract]).status == 0)
        let root = extract + "/support_bundle_20261118T110640Z"
        #expect(try String(contentsOfFile: root + "/summary.txt", encoding: .utf8) == "node: Seattle-1\n")
        #expect(
            try String(contentsOfFile: root + "/configuration/hub-link.json", encoding: .utf8)
                == #"{"token":"<redacted>"}"#
        )
        #expect(FileManager.default.fileExists(atPath: root + "/missing.log.missing"))
        // Only the archive remains in the output folder: no staging left behind.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [
                "support_bundle_20261118T110640Z.tar.gz", "x",
            ]
        )
    }

    @Test func theTailKeepsTheLastLines() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + "/engine.log"
        try (1...100).map { "line \($0)" }.joined(separator: "\n").appending("\n").write(
            toFile: log,
            atomically: true,
            encoding: .utf8
        )
        var bundle = SupportBundle()
        bundle.addTail("logs/engine.log", of: log, lines: 3)
        #expect(bundle.entries == [.init(name: "logs/engine.log", content: "line 98\nline 99\nline 100\n")])
    }
}
