import CacheNodeTestSupport
import Foundation
import Testing

/// `cachenode status` shows the TLS listener's section of the engine's `/status`: where it listens, the certificate's
/// subject, names and expiry with the days left, or why there is no certificate.
@Suite(.serialized)
struct StatusHTTPSTests {
    static func statusDocument(
        https: String,
        health: String = #"{"state":"serving","reasons":[],"since":"2027-01-15T08:00:00Z"}"#
    ) -> String {
        """
        {"version":"1.0.0","node":"Trial-1","pid":4242,"started_at":"2027-01-15T08:00:00Z","uptime_s":60,
        "listen":"127.0.0.1:8080","admin":"127.0.0.1:5000","block_size_bytes":1048576,"objects":0,"requests":0,
        "hits":0,"misses":0,"partials":0,"hit_ratio":0,"bytes_from_cache":0,"bytes_from_origin":0,"origin_errors":0,
        "connections":0,"peak_egress_bps":0,"drives":[],"issues":[],
        "health":\(health),
        "https":\(https)}
        """
    }

    @Test(arguments: [
        (
            """
            {"listen":"127.0.0.1:8443","required_names":["cachenode.test"],"loaded_at":"2027-01-15T08:00:00Z",
            "certificate":{"subject":"CN=cachenode.test","issuer":"CN=Contoso CA","names":["cachenode.test","127.0.0.1"],
            "not_before":"2027-01-01T00:00:00Z","not_after":"NOT_AFTER","fingerprint":"SHA256:AB:CD"}}
            """,
            [
                "HTTPS:              127.0.0.1:8443, for cachenode.test",
                "  certificate:      CN=cachenode.test, issued by CN=Contoso CA",
                "  names:            cachenode.test, 127.0.0.1",
                "  expires:          EXPIRY (in 44 days)",
                "  fingerprint:      SHA256:AB:CD",
            ]
        ),
        (
            #"{"listen":"127.0.0.1:8443","required_names":["cachenode.test"],"problem":"no certificate installed yet"}"#,
            [
                "HTTPS:              127.0.0.1:8443, for cachenode.test",
                "  certificate:      none (no certificate installed yet)",
            ]
        ),
    ])
    func statusShowsTheCertificateTheEngineServes(_ https: String, _ expected: [String]) async throws {
        let notAfter = Date().addingTimeInterval(44.5 * 86_400)
        let stamp = ISO8601DateFormatter().string(from: notAfter)
        let result = try await Self.status(
            Self.statusDocument(https: https.replacingOccurrences(of: "NOT_AFTER", with: stamp))
        )
        let lines = result.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("HTTPS:") }, "\(result)")
        let day = String(stamp.prefix(10))
        #expect(
            Array(lines[start..<min(lines.count, start + expected.count)])
                == expected.map { $0.replacingOccurrences(of: "EXPIRY", with: day) },
            "\(result)"
        )
        #expect(lines[start - 1].isEmpty && lines[start + expected.count].isEmpty, "\(result)")
    }

    /// A certificate that expires within 30 days and leaves a DOCacheHost name out: the engine's health is degraded
    /// with both reasons, which status shows with what to do, above the certificate's own lines.
    @Test func aDegradedCertificateShowsItsReasons() async throws {
        let notAfter = Date().addingTimeInterval(9.5 * 86_400)
        let stamp = ISO8601DateFormatter().string(from: notAfter)
        let day = String(stamp.prefix(10))
        let https = """
            {"listen":"127.0.0.1:8443","required_names":["cachenode.test","10.0.0.50"],"loaded_at":"\(stamp)",
            "certificate":{"subject":"CN=cachenode.test","issuer":"CN=Contoso CA","names":["cachenode.test"],
            "not_before":"2027-01-01T00:00:00Z","not_after":"\(stamp)","fingerprint":"SHA256:AB:CD"}}
            """
        let health = """
            {"state":"degraded","since":"2027-01-15T08:00:00Z","reasons":[
            {"kind":"certificate_expiring","severity":"degraded","since":"2027-01-15T08:00:00Z",
            "detail":"the HTTPS certificate (CN=cachenode.test) expires on \(day), in 9 days",
            "action":"renew it and run cachenode cert install CERT, or let the ACME client's deploy hook do so"},
            {"kind":"certificate_names","severity":"degraded","since":"2027-01-15T08:00:00Z",
            "detail":"the HTTPS certificate does not cover 10.0.0.50, which clients use in DOCacheHost (it names cachenode.test)",
            "action":"request a certificate for those names: cachenode cert request, then cachenode cert install"}]}
            """
        let result = try await Self.status(Self.statusDocument(https: https, health: health))
        #expect(result.contains("\nHealth: degraded (for "), "\(result)")
        #expect(
            result.contains(
                "  - [degraded] the HTTPS certificate (CN=cachenode.test) expires on \(day), in 9 days (for "
            ),
            "\(result)"
        )
        #expect(
            result.contains(
                "  - [degraded] the HTTPS certificate does not cover 10.0.0.50, which clients use in DOCacheHost (it "
                    + "names cachenode.test) (for "
            ),
            "\(result)"
        )
        #expect(
            result.contains(
                "\nHTTPS:              127.0.0.1:8443, for cachenode.test, 10.0.0.50\n"
                    + "  certificate:      CN=cachenode.test, issued by CN=Contoso CA\n"
                    + "  names:            cachenode.test\n"
                    + "  expires:          \(day) (in 9 days)\n"
            ),
            "\(result)"
        )
    }

    /// `cachenode status` on a stopped trial node whose admin address answers `/status` with `document`.
    static func status(_ document: String) async throws -> String {
        let node = try StoppedNode()
        let admin = try await TestOrigin.start()
        defer {
            node.remove()
            Task { await admin.stop() }
        }
        admin.add(
            "/status",
            object: .init(bytes: Array(document.utf8), etag: "\"s\"", contentType: "application/json")
        )
        let configuration = node.state.appendingPathComponent("cachenode.yaml")
        let text = try String(contentsOf: configuration, encoding: .utf8)
        try text.replacingOccurrences(of: "admin: 127.0.0.1:9", with: "admin: \(admin.authority)")
            .write(to: configuration, atomically: true, encoding: .utf8)

        let result = try CLIRunner.run(["status", "--root", node.root.path])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }
}
