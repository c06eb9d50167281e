import CacheNodeTestSupport
import CacheNodeCore
import Foundation
import Logging
import NIOHTTP1
import Synchronization
import Testing

@testable import Management

/// Alerts to webhooks: signed JSON POSTs, retried with backoff, delivered to a real HTTP receiver on 127.0.0.1.
struct HubAlertTests {
    @Test(
        arguments: [
            (1, 1_000), (2, 2_000), (3, 4_000), (4, 8_000), (5, 10_000), (6, 10_000), (7, nil),
        ] as [(Int, Int?)]
    )
    func retriesBackOffUpToACeilingAndStop(_ attempt: Int, _ milliseconds: Int?) {
        let policy = RetryPolicy(attempts: 7, firstDelay: .seconds(1), maximumDelay: .seconds(10))
        #expect(policy.delay(afterAttempt: attempt) == milliseconds.map { .milliseconds($0) })
    }

    /// RFC 4231, test case 2.
    @Test func theSignatureIsHMACSHA256OfTheBodyInHex() {
        #expect(
            AlertDispatcher.signature(Array("what do ya want for nothing?".utf8), secret: Array("Jefe".utf8))
                == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
    }

    @Test(
        arguments: [
            ("https://chat.example.org/hooks/abc", "https://chat.example.org"),
            ("http://10.0.0.5:8080/itsm?token=x", "http://10.0.0.5:8080"),
            ("ftp://example.org/x", nil),
            ("not a url", nil),
            ("https:///nohost", nil),
        ] as [(String, String?)]
    )
    func webhooksAreHTTPOrHTTPSAndLogOnlyTheirHost(_ url: String, _ label: String?) {
        #expect((try? AlertDispatcher.label(url)) == label)
    }

    @Test(arguments: [
        (NodeState.serving, NodeState.failing, true), (.serving, .offline, true), (.degraded, .failing, true),
        (.degraded, .offline, true), (.offline, .failing, false), (.failing, .offline, false),
        (.failing, .degraded, false),
        (.degraded, .serving, false), (.offline, .serving, false), (.serving, .pending, false),
        (.failing, .pending, false),
    ])
    func aChangeForTheBetterIsARecovery(_ state: NodeState, _ previous: NodeState, _ recovery: Bool) {
        let change = HealthTransition(hub: "h", node: "n", state: state, previous: previous, reasons: [], at: Date())
        #expect(change.isRecovery == recovery)
        #expect(HubAlert(change).event == (recovery ? "recovery" : "alert"))
    }

    @Test func aRecoveryToServingSaysRecovered() {
        let alert = HubAlert(
            HealthTransition(hub: "west", node: "A", state: .serving, previous: .offline, reasons: [], at: Date())
        )
        #expect(alert.event == "recovery")
        #expect(alert.text == "CacheNode: node A of hub west recovered: serving (was offline)")
    }

    /// A node fails, recovers, then goes silent: the receiver (which refuses the first delivery) gets each change,
    /// signed, the first after a retry; the report that failed the node was answered without waiting for any of it.
    @Test func aReceiverGetsTheAlertsSignedAfterARetryAndTheRecovery() async throws {
        try await WebhookReceiver.with(refusingFirst: 1) { receiver in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "alerts-\(UUID().uuidString).sqlite"
            ).path
            defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
            do {
                let registry = try Registry(path: path)
                let token = try #require(try FleetTests.enrol(["Seattle-1"], in: registry)["Seattle-1"])
                let clock = TestClock(FleetTests.start)
                let alerts = try AlertDispatcher(
                    urls: [receiver.url + "/hooks/secret-path"],
                    secret: Array("s3cret".utf8),
                    retry: RetryPolicy(attempts: 5, firstDelay: .milliseconds(50), maximumDelay: .milliseconds(200)),
                    logger: Logger(label: "test")
                )
                let service = HubService(
                    registry: registry,
                    adminToken: "admin-secret",
                    logger: Logger(label: "test"),
                    alerts: alerts
                ) {
                    clock.now
                }
                let delivery = Task { await alerts.run() }
                defer { delivery.cancel() }

                let failing = RegistryHealthTests.reason("origin_failing", .failing, since: FleetTests.start)
                // Answered at once: the alert only goes into the dispatcher's queue (whose receiver refuses it first).
                #expect(
                    Self.post(
                        service,
                        RegistryHealthTests.report("Seattle-1", .failing, reasons: [failing]),
                        token: token
                    ).status == .ok
                )
                clock.advance(60)
                #expect(Self.post(service, RegistryHealthTests.report("Seattle-1"), token: token).status == .ok)
                clock.advance(181)
                service.sweepOnce(notBefore: FleetTests.start)

                let requests = try await receiver.waitFor(4)
                try #require(requests.count == 4, "\(requests.map(\.body))")
                #expect(requests.map(\.status) == [500, 200, 200, 200])
                for request in requests {
                    #expect(request.path == "/hooks/secret-path")
                    #expect(
                        request.signature
                            == AlertDispatcher.signature(Array(request.body.utf8), secret: Array("s3cret".utf8))
                    )
                }
                let bodies = try requests.map {
                    try #require(try JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any])
                }
                #expect(requests[0].body == requests[1].body)  // the same alert, again
                #expect(bodies.map { $0["state"] as? String } == ["failing", "failing", "serving", "offline"])
                #expect(bodies.map { $0["previous"] as? String } == ["pending", "pending", "failing", "serving"])
                #expect(bodies.map { $0["event"] as? String } == ["alert", "alert", "recovery", "alert"])
                #expect(bodies.allSatisfy { $0["hub"] as? String == "west" && $0["node"] as? String == "Seattle-1" })
                #expect(bodies[0]["at"] as? String == "2027-01-15T08:00:00Z")
                #expect(
                    (bodies[0]["reasons"] as? [[String: Any]])?.first?["detail"] as? String == "origin_failing detail"
                )
                #expect((bodies[3]["reasons"] as? [[String: Any]])?.first?["kind"] as? String == "offline")
                #expect(
                    bodies[2]["text"] as? String
                        == "CacheNode: node Seattle-1 of hub west recovered: serving (was failing)"
                )
            }
        }
    }

    static func post(_ service: HubService, _ report: NodeReport, token: String) -> HubResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(token)")
        return service.handle(
            HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/reports", headers: headers),
            body: (try? HubJSON.encoder.encode(report)) ?? Data()
        )
    }
}

/// A clock a test moves.
final class TestClock: Sendable {
    private let value: Mutex<Date>

    init(_ start: Date) { value = Mutex(start) }

    var now: Date { value.withLock { $0 } }

    func advance(_ seconds: Double) { value.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// A webhook receiver on 127.0.0.1: a few lines of Python's `http.server` that answer 500 to the first requests and
/// 200 after, and write each request (path, signature header, body) as a JSON line to a file.
struct WebhookReceiver {
    struct Request: Decodable {
        var status: Int
        var path: String
        var signature: String?
        var body: String
    }

    var url: String
    var log: String

    static let script = """
        import http.server, json, os, sys
        log, refuse = sys.argv[1], int(sys.argv[2])
        seen = 0
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                global seen
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen += 1
                status = 500 if seen <= refuse else 200
                with open(log, "a") as f:
                    f.write(json.dumps({"status": status, "path": self.path,
                        "signature": self.headers.get("X-CacheNode-Signature"), "body": body.decode()}) + "\\n")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        with open(log + ".port.tmp", "w") as f:
            f.write(str(server.server_port))
        os.rename(log + ".port.tmp", log + ".port")
        server.serve_forever()
        """

    static func with(refusingFirst refuse: Int, _ body: (WebhookReceiver) async throws -> Void) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-\(UUID().uuidString).jsonl")
            .path
        let process = try ChildProcess(["python3", "-c", script, log, "\(refuse)"])
        defer {
            // SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
            process.signal(SIGKILL)
            process.waitUntilExit()
            for suffix in ["", ".port"] { try? FileManager.default.removeItem(atPath: log + suffix) }
        }
        // Python may take long to start on a loaded machine.
        let deadline = Date().addingTimeInterval(60)
        var port: String?
        while port == nil && Date() < deadline {
            port = try? String(contentsOfFile: log + ".port", encoding: .utf8)
            if port == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let bound = try #require(port, "the receiver did not start")
        try await body(WebhookReceiver(url: "http://127.0.0.1:\(bound)", log: log))
    }

    /// The first `count` requests, waiting up to a minute for them (a loaded machine is slow).
    func waitFor(_ count: Int) async throws -> [Request] {
        let deadline = Date().addingTimeInterval(60)
        var requests: [Request] = []
        repeat {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            requests = text.split(separator: "\n").compactMap {
                try? JSONDecoder().decode(Request.self, from: Data($0.utf8))
            }
            if requests.count >= count { return Array(requests.prefix(count)) }
            try await Task.sleep(for: .milliseconds(20))
        } while Date() < deadline
        return requests
    }
}
