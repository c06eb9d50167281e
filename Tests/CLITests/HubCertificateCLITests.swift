import CacheNodeTestSupport
import Foundation
import Testing

/// A node's report carries its HTTPS certificate to the hub service; `hub nodes` and the fleet page show subject,
/// names and expiry.
@Suite(.serialized)
struct HubCertificateCLITests {
    @Test func hubNodesAndTheFleetPageShowEachNodesCertificate() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-cert-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.path
        #expect(try CLIRunner.run(["hub", "create", "west", "--root", root]).status == 0)
        let created = try CLIRunner.run(["node", "create", "Alpha-1", "--hub", "west", "--root", root])
        let key = try #require(created.stdout.firstMatch(of: /enrolment key: (\S+)/)).1.description
        let port = freeLoopbackPort()
        let hub = try BackgroundProcess(
            ["hub", "serve", "--listen", "127.0.0.1:\(port)", "--plain-http", "--root", root],
            outputPath: work.appendingPathComponent("hub.log").path
        )
        defer { hub.stop() }
        #expect(hub.wait { hub.output.contains("Hub service listening on http://127.0.0.1:\(port)") }, "\(hub.output)")
        let url = "http://127.0.0.1:\(port)"
        let enrolled = try await HubHealthCLITests.post(
            url + "/v1/enrol",
            #"{"hub":"west","node":"Alpha-1","key":"\#(key)"}"#
        )
        let token = try #require(try JSONDecoder().decode([String: String].self, from: enrolled)["token"])
        let notAfter = ISO8601DateFormatter().string(from: Date().addingTimeInterval(75.5 * 86_400))
        let report = """
            {"node":"Alpha-1","version":"1.0.0","uptime_s":30,"health":"ok","state":"serving",\
            "state_since":"2027-01-15T08:00:00Z","reasons":[],"issues":[],"bytes_from_cache":900,\
            "bytes_from_origin":100,"hit_ratio":0.9,"disk_used_bytes":{"/srv/cache":1000},"peak_egress_bps":1000,\
            "interval_s":60,"https":{"listen":"0.0.0.0:443","required_names":["cache.contoso.org"],\
            "certificate":{"subject":"CN=cache.contoso.org","issuer":"CN=Contoso CA","names":["cache.contoso.org",\
            "10.0.0.50"],"not_before":"2027-01-01T00:00:00Z","not_after":"\(notAfter)","fingerprint":"SHA256:AB"}}}
            """
        _ = try await HubHealthCLITests.post(url + "/v1/reports", report, token: token)

        let table = try CLIRunner.run(["hub", "nodes", "--root", root])
        #expect(table.status == 0, "\(table.stderr)")
        let day = String(notAfter.prefix(10))
        #expect(
            table.stdout.hasSuffix(
                "\n\nHTTPS certificates:\n  Alpha-1 (west): CN=cache.contoso.org; names cache.contoso.org, "
                    + "10.0.0.50; expires \(day) (in 75 days)\n"
            ),
            "\(table.stdout)"
        )
        let json = try CLIRunner.run(["hub", "nodes", "--json", "--root", root])
        let nodes = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let certificate = (nodes.first?["https"] as? [String: Any])?["certificate"] as? [String: Any]
        #expect(certificate?["names"] as? [String] == ["cache.contoso.org", "10.0.0.50"])
        #expect(certificate?["not_after"] as? String == notAfter)
    }
}
