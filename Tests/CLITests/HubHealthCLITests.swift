import CacheNodeTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `hub serve` takes health reports and `hub nodes` shows them, trouble first with reasons; bad alert options are
/// refused before anything starts.
@Suite(.serialized)
struct HubHealthCLITests {
    @Test(arguments: [
        (
            ["--alert-webhook", "ftp://chat.example.org/hook"],
            "--alert-webhook: 'ftp://chat.example.org/hook' is not an http:// or https:// address"
        ),
        (
            ["--alert-webhook-secret-file", "/nonexistent/secret"],
            "--alert-webhook-secret-file needs at least one --alert-webhook"
        ),
        (
            ["--alert-webhook", "https://chat.example.org/hook", "--alert-webhook-secret-file", "/nonexistent/secret"],
            "--alert-webhook-secret-file: cannot read /nonexistent/secret: no such file, or not readable"
        ),
    ])
    func badAlertOptionsAreRefused(_ options: [String], _ message: String) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("alerts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try CLIRunner.run(
            ["hub", "serve", "--listen", "not-an-address", "--plain-http", "--root", root] + options
        )
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func hubNodesListsTroubleFirstWithReasonsAndIssues() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("hub-health-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.path
        #expect(try CLIRunner.run(["hub", "create", "west", "--root", root]).status == 0)
        var keys: [String: String] = [:]
        for name in ["Alpha-1", "Bravo-1"] {
            let created = try CLIRunner.run(["node", "create", name, "--hub", "west", "--root", root])
            keys[name] = try #require(created.stdout.firstMatch(of: /enrolment key: (\S+)/)).1.description
        }
        let port = freeLoopbackPort()
        let hub = try BackgroundProcess(
            ["hub", "serve", "--listen", "127.0.0.1:\(port)", "--plain-http", "--root", root],
            outputPath: work.appendingPathComponent("hub.log").path
        )
        defer { hub.stop() }
        #expect(hub.wait { hub.output.contains("Hub service listening on http://127.0.0.1:\(port)") }, "\(hub.output)")
        let url = "http://127.0.0.1:\(port)"

        for (name, state) in [("Alpha-1", "serving"), ("Bravo-1", "failing")] {
            let enrolled = try await Self.post(
                url + "/v1/enrol",
                #"{"hub":"west","node":"\#(name)","key":"\#(keys[name] ?? "")"}"#
            )
            let token = try #require(try JSONDecoder().decode([String: String].self, from: enrolled)["token"])
            let reasons =
                state == "failing"
                ? #"[{"kind":"origin_failing","severity":"failing","detail":"no origin fetch succeeded in the last 5 minutes: 4 of 4 failed (dns 4)","action":"check the node's DNS servers","since":"2027-01-15T08:00:00Z"}]"#
                : "[]"
            let issues =
                state == "failing"
                ? #"[{"kind":"origin_failing","severity":"failing","detail":"dns 4","action":"check DNS","start":"2027-01-15T08:00:00Z"}]"#
                : "[]"
            let report = """
                {"node":"\(name)","version":"0.4.0","uptime_s":30,"health":"ok","state":"\(state)","state_since":"2027-01-15T08:00:00Z",\
                "reasons":\(reasons),"issues":\(issues),"bytes_from_cache":900,"bytes_from_origin":100,"hit_ratio":0.9,\
                "disk_used_bytes":{"/srv/cache":1000},"peak_egress_bps":1000000000,"interval_s":60}
                """
            _ = try await Self.post(url + "/v1/reports", report, token: token)
        }

        let table = try CLIRunner.run(["hub", "nodes", "--root", root])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("NODE     HUB   STATE    LAST REPORT") == true, "\(table.stdout)")
        #expect(lines.dropFirst().first?.hasPrefix("Bravo-1  west  failing") == true, "\(table.stdout)")
        #expect(lines.dropFirst(2).first?.hasPrefix("Alpha-1  west  serving") == true, "\(table.stdout)")
        #expect(
            Array(lines.suffix(4)) == [
                "",
                "Bravo-1 (west), failing: no origin fetch succeeded in the last 5 minutes: 4 of 4 failed (dns 4)",
                "    what to do: check the node's DNS servers",
                "",
            ],
            "\(table.stdout)"
        )

        let json = try CLIRunner.run(["hub", "nodes", "--json", "--root", root])
        let nodes = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(nodes.map { $0["name"] as? String } == ["Bravo-1", "Alpha-1"])
        #expect(nodes.map { $0["state"] as? String } == ["failing", "serving"])
        let issues = try #require(nodes.first?["issues"] as? [[String: Any]])
        #expect(issues.map { $0["detail"] as? String } == ["dns 4"])
        #expect((nodes.last?["issues"] as? [Any])?.isEmpty == true)
        #expect((nodes.first?["node"] as? [String: Any])?["name"] as? String == "Bravo-1")
        #expect(!json.stdout.contains("token") && !hub.output.contains(keys["Alpha-1"] ?? "-"))
    }

    static func post(_ url: String, _ body: String, token: String? = nil) async throws -> Data {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
        return data
    }
}
