import CacheNodeTestSupport
import CacheNodeCore
import Foundation
import Logging
import NIOHTTP1
import Testing

@testable import Management

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The hub's fleet view: reports rolled up per minute and per hour within bounds, the page and `/v1/fleet`.
/// Time is a simulated clock throughout: a day or 90 days replay in a moment.
struct FleetTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)  // on a whole hour

    /// A registry in a temporary file (and its write-ahead log), removed after `body`.
    static func withRegistry(_ body: (Registry) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        try body(try Registry(path: path))
    }

    /// Enrolled nodes of hub `west`; returns their tokens by name.
    static func enrol(_ names: [String], in registry: Registry) throws -> [String: String] {
        try registry.createHub("west", now: start)
        var tokens: [String: String] = [:]
        for name in names {
            let key = try registry.createNode(name, hub: "west", now: start)
            tokens[name] = try registry.enrol(node: name, hub: "west", key: key)
        }
        return tokens
    }

    static func report(_ node: String, cache: Int64, origin: Int64, uptime: Int, version: String = "0.1.0")
        -> NodeReport
    {
        NodeReport(
            node: node,
            version: version,
            uptimeSeconds: uptime,
            health: NodeHealth(state: .serving, reasons: [], since: Date(timeIntervalSince1970: 0)),
            bytesFromCache: cache,
            bytesFromOrigin: origin,
            hitRatio: cache + origin > 0 ? Double(cache) / Double(cache + origin) : 0,
            diskUsedBytes: ["/srv/a": 600, "/srv/b": 400],
            peakEgressBitsPerSecond: 2e9,
            intervalSeconds: 60
        )
    }

    static func get(_ service: HubService, _ uri: String, bearer: String? = nil) -> HubResponse {
        var headers = HTTPHeaders()
        if let bearer { headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        return service.handle(
            HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers),
            body: Data()
        )
    }

    // MARK: Rollups

    @Test(
        arguments: [
            // previous totals (cache, origin, uptime) or none; the report's totals; what the interval adds
            (nil, (900, 100, 30), (900, 100)),  // the engine started within the interval: all of it is new
            (nil, (5_000, 1_000, 86_400), (0, 0)),  // up for a day before the hub knew it: only the baseline
            ((900, 100, 30), (1_900, 300, 90), (1_000, 200)),
            ((1_900, 300, 90), (50, 10, 20), (50, 10)),  // the totals dropped: the engine restarted
            ((1_900, 300, 90), (2_500, 400, 10), (2_500, 400)),  // the uptime dropped: restarted, and busy since
            ((1_900, 300, 90), (1_900, 300, 150), (0, 0)),  // an idle interval
        ] as [((Int64, Int64, Int)?, (Int64, Int64, Int), (Int64, Int64))]
    )
    func anIntervalsTrafficIsTheDifferenceOfTotalsUnlessTheEngineRestarted(
        _ previous: (Int64, Int64, Int)?,
        _ totals: (Int64, Int64, Int),
        _ expected: (Int64, Int64)
    ) {
        let delta = TrafficDelta(
            previous: previous.map { TrafficDelta.Totals(fromCache: $0.0, fromOrigin: $0.1, uptimeSeconds: $0.2) },
            report: Self.report("A", cache: totals.0, origin: totals.1, uptime: totals.2)
        )
        #expect(delta == TrafficDelta(fromCache: expected.0, fromOrigin: expected.1))
    }

    @Test func rollupsHoldDeltasAcrossAnEngineRestart() throws {
        try Self.withRegistry { registry in
            let token = try #require(try Self.enrol(["A"], in: registry)["A"])
            let reports = [
                Self.report("A", cache: 900, origin: 100, uptime: 30),
                Self.report("A", cache: 1_900, origin: 300, uptime: 90),
                Self.report("A", cache: 50, origin: 10, uptime: 20),  // restarted
                Self.report("A", cache: 250, origin: 30, uptime: 80),
            ]
            for (minute, report) in reports.enumerated() {
                try registry.record(report, token: token, now: Self.start.addingTimeInterval(Double(minute * 60 + 5)))
            }
            let now = Self.start.addingTimeInterval(4 * 60)
            let minutes = try registry.rollups(node: "A", hub: "west", .minute, now: now)
            #expect(minutes.map(\.bytesFromCache) == [900, 1_000, 50, 200])
            #expect(minutes.map(\.bytesFromOrigin) == [100, 200, 10, 20])
            #expect(minutes.map(\.start) == (0..<4).map { Self.start.addingTimeInterval(Double($0 * 60)) })
            #expect(
                minutes.allSatisfy { $0.reports == 1 && $0.diskUsedBytes == 1_000 && $0.peakEgressBitsPerSecond == 2e9 }
            )
            let hours = try registry.rollups(node: "A", hub: "west", .hour, now: now)
            #expect(hours.count == 1)
            #expect(hours.first?.bytesFromCache == 2_150)
            #expect(hours.first?.bytesFromOrigin == 330)
            #expect(hours.first?.reports == 4)
            #expect(hours.first?.hitRatio == 250.0 / 280.0)  // the last report's
            // The node's last report is kept whole; its saved bytes count across the restart.
            let node = try #require(try registry.nodes().first)
            #expect(node.lastReport == reports.last)
            #expect(node.lastReportAt == Self.start.addingTimeInterval(3 * 60 + 5))
            #expect(node.bytesSaved == 2_150)
        }
    }

    @Test func aDayOfMinutesIsKeptAndOlderMinutesAreDropped() throws {
        try Self.withRegistry { registry in
            let tokens = try Self.enrol(["A", "B"], in: registry)
            let minutes = 1_440 + 90
            for minute in 0..<minutes {
                // The fleet view is asked for now and then, as a page refreshes.
                if minute % 97 == 0 {
                    _ = try registry.fleet(.minute, now: Self.start.addingTimeInterval(Double(minute * 60)))
                }
                for (index, name) in ["A", "B"].enumerated() {
                    let total = Int64(minute + 1) * 1_000 * Int64(index + 1)
                    try registry.record(
                        Self.report(name, cache: total, origin: total / 10, uptime: 30 + minute * 60),
                        token: tokens[name] ?? "",
                        now: Self.start.addingTimeInterval(Double(minute * 60 + 20))
                    )
                }
            }
            let now = Self.start.addingTimeInterval(Double((minutes - 1) * 60 + 30))
            let kept = try registry.rollups(node: "A", hub: "west", .minute, now: now)
            #expect(kept.count == 1_440)
            #expect(kept.first?.start == Self.start.addingTimeInterval(90 * 60))
            #expect(kept.allSatisfy { $0.bytesFromCache == 1_000 })
            // The fleet's minutes are the sums of its nodes'.
            let fleet = try registry.fleet(.minute, now: now)
            #expect(fleet == (try registry.fleet(.minute, now: now)))
            #expect(fleet.count == 1_440)
            #expect(
                fleet.allSatisfy {
                    $0.bytesFromCache == 3_000 && $0.bytesFromOrigin == 300 && $0.nodes == 2
                        && $0.diskUsedBytes == 2_000
                }
            )
            // Dropped from the database, not only from the answers; the hours hold the whole time.
            let rows = try registry.rowCounts()
            #expect(rows.latest == 2)
            #expect(rows.minutes == 2 * 1_440)
            #expect(rows.hours == 2 * 26)
            let hours = try registry.fleet(.hour, now: now)
            #expect(hours.first?.bytesFromCache == Int64(60 * 3_000))
            #expect(hours.first?.reports == 120)
        }
    }

    @Test func hoursAreKeptFor90DaysAndTheRowsStayBounded() throws {
        try Self.withRegistry { registry in
            let token = try #require(try Self.enrol(["A"], in: registry)["A"])
            let hours = 90 * 24 + 48
            for hour in 0..<hours {
                // Two reports an hour, a minute apart.
                for minute in 0..<2 {
                    let count = Int64(hour * 2 + minute + 1)
                    try registry.record(
                        Self.report(
                            "A",
                            cache: count * 500,
                            origin: count * 50,
                            uptime: 30 + (hour * 60 + minute) * 60
                        ),
                        token: token,
                        now: Self.start.addingTimeInterval(Double(hour * 3_600 + minute * 60 + 10))
                    )
                }
            }
            let now = Self.start.addingTimeInterval(Double((hours - 1) * 3_600 + 120))
            let kept = try registry.rollups(node: "A", hub: "west", .hour, now: now)
            #expect(kept.count == 2_160)
            #expect(kept.first?.start == Self.start.addingTimeInterval(Double(48 * 3_600)))
            #expect(kept.last?.start == Self.start.addingTimeInterval(Double((hours - 1) * 3_600)))
            #expect(kept.allSatisfy { $0.bytesFromCache == 1_000 && $0.bytesFromOrigin == 100 && $0.reports == 2 })
            // Minutes of the last day only: two an hour.
            #expect(try registry.rollups(node: "A", hub: "west", .minute, now: now).count == 48)
            let rows = try registry.rowCounts()
            #expect(rows.hours == 2_160)
            #expect(rows.minutes <= 1_440)
            #expect(rows.latest == 1)
        }
    }

    @Test(arguments: [false, true])
    func deletingANodeTakesItsTrafficOutOfTheFleet(inAnotherProcess: Bool) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let registry = try Registry(path: path)
        let tokens = try Self.enrol(["A", "B"], in: registry)
        for name in ["A", "B"] {
            try registry.record(
                Self.report(name, cache: 100, origin: 10, uptime: 30),
                token: tokens[name] ?? "",
                now: Self.start
            )
        }
        // Summed once the minute has settled, then the node goes.
        let later = Self.start.addingTimeInterval(3_600 * 3)
        #expect(try registry.fleet(.minute, now: later).map(\.bytesFromCache) == [200])
        #expect(try registry.fleet(.hour, now: later).map(\.bytesFromCache) == [200])
        try (inAnotherProcess ? Registry(path: path) : registry).deleteNode("A", hub: "west")
        let rows = try registry.rowCounts()
        #expect((rows.latest, rows.minutes, rows.hours) == (1, 1, 1))
        #expect(try registry.fleet(.minute, now: later).map(\.bytesFromCache) == [100])
        #expect(try registry.fleet(.hour, now: later).map(\.bytesFromCache) == [100])
    }

    /// A registry of the first version, with its raw reports, opens with their rollups and the last report kept.
    @Test func aVersionOneRegistryKeepsItsHistory() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-v1-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        func payload(_ cache: Int64, _ uptime: Int) throws -> String {
            String(
                decoding: try JSONEncoder().encode(Self.report("A", cache: cache, origin: cache / 10, uptime: uptime)),
                as: UTF8.self
            )
            .replacingOccurrences(of: "'", with: "''")
        }
        let script = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1');
            CREATE TABLE hub (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at DATETIME NOT NULL);
            CREATE TABLE node (id INTEGER PRIMARY KEY, hub_id INTEGER NOT NULL REFERENCES hub(id) ON DELETE CASCADE,
                name TEXT NOT NULL COLLATE NOCASE, created_at DATETIME NOT NULL, enrolment_digest TEXT, token_digest TEXT UNIQUE,
                UNIQUE (hub_id, name));
            CREATE TABLE report (node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE, received_at DATETIME NOT NULL,
                payload TEXT NOT NULL);
            CREATE INDEX report_by_node ON report(node_id, received_at);
            CREATE TRIGGER node_name_is_fixed BEFORE UPDATE OF name, hub_id ON node
            BEGIN SELECT RAISE(ABORT, 'node names cannot change'); END;
            INSERT INTO hub VALUES (1, 'west', '2027-01-15 08:00:00.000');
            INSERT INTO node VALUES (1, 1, 'A', '2027-01-15 08:00:00.000', NULL, 'digest');
            INSERT INTO report VALUES (1, '2027-01-15 08:00:10.000', '\(try payload(1_000, 30))');
            INSERT INTO report VALUES (1, '2027-01-15 08:01:10.000', '\(try payload(3_000, 90))');
            INSERT INTO report VALUES (1, '2027-01-15 08:02:10.000', '\(try payload(3_500, 150))');
            """
        let sqlite = try ChildProcess.run(["/usr/bin/sqlite3", path, script])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")

        let registry = try Registry(path: path)
        let now = Self.start.addingTimeInterval(180)
        #expect(
            try registry.rollups(node: "A", hub: "west", .minute, now: now).map(\.bytesFromCache) == [
                1_000, 2_000, 500,
            ]
        )
        let node = try #require(try registry.nodes().first)
        #expect(node.lastReport?.bytesFromCache == 3_500)
        #expect(node.lastReportAt == Self.start.addingTimeInterval(130))
        #expect(node.bytesSaved == 3_500)
    }

    // MARK: The page and /v1/fleet

    /// Two nodes that reported for three minutes and one that never did, as the service sees them.
    static func withFleet(_ body: (HubService) throws -> Void) throws {
        try withRegistry { registry in
            let tokens = try enrol(["Seattle-1", "Tacoma-2"], in: registry)
            _ = try registry.createNode("Spokane-3", hub: "west", now: start)
            for minute in 0..<3 {
                let now = start.addingTimeInterval(Double(minute * 60 + 10))
                let total = Int64(minute + 1) * 6_000_000
                try registry.record(
                    report("Seattle-1", cache: total, origin: total / 6, uptime: 30 + minute * 60),
                    token: tokens["Seattle-1"] ?? "",
                    now: now
                )
                try registry.record(
                    report(
                        "Tacoma-2",
                        cache: total / 2,
                        origin: total / 6,
                        uptime: 30 + minute * 60,
                        version: #"<script>alert("x")</script>&"#
                    ),
                    token: tokens["Tacoma-2"] ?? "",
                    now: now
                )
            }
            let service = HubService(registry: registry, adminToken: "admin-secret", logger: Logger(label: "test")) {
                start.addingTimeInterval(200)
            }
            try body(service)
        }
    }

    @Test func theFleetPageNeedsTheAdminToken() throws {
        try Self.withFleet { service in
            #expect(Self.get(service, "/").status == .unauthorized)
            #expect(Self.get(service, "/", bearer: "wrong").status == .unauthorized)
            #expect(Self.get(service, "/?token=wrong").status == .unauthorized)
            #expect(Self.get(service, "/?token=").status == .unauthorized)
            #expect(Self.get(service, "/?part=main").status == .unauthorized)
            #expect(!String(decoding: Self.get(service, "/").body, as: UTF8.self).contains("Seattle-1"))

            let byHeader = Self.get(service, "/", bearer: "admin-secret")
            #expect(byHeader.status == .ok)
            #expect(byHeader.contentType == "text/html; charset=utf-8")
            let byQuery = Self.get(service, "/?token=admin-secret")
            #expect(byQuery.status == .ok)
            #expect(byQuery.body == byHeader.body)
            // The refresh asks for the main part only.
            let part = String(decoding: Self.get(service, "/?part=main&token=admin-secret").body, as: UTF8.self)
            #expect(part.hasPrefix("<header>"))
            #expect(!part.contains("<script>"))
        }
    }

    @Test func thePageShowsEveryNodeEscapedAndLoadsNothingFromElsewhere() throws {
        try Self.withFleet { service in
            let page = String(decoding: Self.get(service, "/?token=admin-secret").body, as: UTF8.self)
            #expect(page.hasPrefix("<!DOCTYPE html>"))
            for name in ["Seattle-1", "Tacoma-2", "Spokane-3"] {
                #expect(page.contains("<td><a href=\"/node/west/\(name)\">\(name)</a></td>"))
            }
            #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"))
            #expect(!page.contains("<script>alert"))
            #expect(page.components(separatedBy: "<script>").count == 2)  // the page's own refresh only
            #expect(page.contains("<svg id=\"plot-minute\""))
            #expect(page.contains("<svg id=\"plot-hour\""))
            #expect(page.contains("<style>"))
            for outside in ["http://", "https://", "src=", "@import", "url("] {
                #expect(!page.contains(outside), "\(outside)")
            }
            // The node table: trouble first, then states and figures.
            #expect(
                page.contains(
                    #"<tr class="node" data-state="pending"><td><a href="/node/west/Spokane-3">Spokane-3</a></td>"#
                )
            )
            let pending = try #require(page.range(of: ">Spokane-3</a>"))
            let online = try #require(page.range(of: ">Seattle-1</a>"))
            #expect(pending.lowerBound < online.lowerBound)
            #expect(page.contains("<td>70 s ago</td>"))
            #expect(page.contains("<td>85.7 %</td>"))  // Seattle-1's hit ratio
            // Seattle-1 saved: all three minutes, as its engine started then.
            #expect(page.contains("<td>18.0 MB</td>"))
            #expect(page.contains(#"<span class="good">2 serving</span>"#))
        }
    }

    @Test func thePagesPlotsCoverADayOfMinutesAnd90DaysOfHours() {
        let now = Self.start.addingTimeInterval(3_600 * 5 + 30)
        let minute = FleetPeriod(
            start: Self.start.addingTimeInterval(3_600 * 5 - 60),
            bytesFromCache: 600,
            bytesFromOrigin: 150,
            diskUsedBytes: 0,
            peakEgressBitsPerSecond: 0,
            reports: 1,
            nodes: 1
        )
        let page = FleetPage(view: FleetView(nodes: [], minutes: [minute], hours: [], now: now))
        let minutes = page.dense(page.view.minutes, .minute)
        #expect(minutes.count == 1_439)  // every complete minute of the window
        #expect(minutes.last == minute)
        #expect(page.dense([], .hour).count == 2_159)
        // The last minute's egress, 750 bytes, is 100 bit/s.
        #expect(page.main().contains(#"<p id="egress-now" data-value="100">100 bit/s</p>"#))
        #expect(page.trafficPlot(.hour).contains("90 d ago"))
        #expect(page.main().contains("No nodes yet"))
    }

    @Test func namesAreEscapedWhateverTheyHold() {
        var record = NodeRecord(name: #"<b>"A"&'</b>"#, hub: "<i>west</i>", createdAt: Self.start, enrolled: true)
        record.lastReport = Self.report("A", cache: 1, origin: 1, uptime: 30, version: "<v>")
        record.lastReportAt = Self.start
        let page = FleetPage(view: FleetView(nodes: [record], minutes: [], hours: [], now: Self.start)).document()
        #expect(page.contains(">&lt;b&gt;&quot;A&quot;&amp;&#39;&lt;/b&gt;</a></td>"))
        #expect(page.contains(#"<a href="/node/%3Ci%3Ewest%3C%2Fi%3E/%3Cb%3E%22A%22%26%27%3C%2Fb%3E">"#))
        #expect(page.contains("<td>&lt;i&gt;west&lt;/i&gt;</td>"))
        #expect(page.contains("<td>&lt;v&gt;</td>"))
        #expect(!page.contains("<b>") && !page.contains("<i>") && !page.contains("<v>"))
    }

    @Test func theFleetAsJSONNeedsTheAdminTokenInAHeader() throws {
        try Self.withFleet { service in
            #expect(Self.get(service, "/v1/fleet").status == .unauthorized)
            #expect(Self.get(service, "/v1/fleet?token=admin-secret").status == .unauthorized)
            let answer = Self.get(service, "/v1/fleet", bearer: "admin-secret")
            #expect(answer.status == .ok)
            #expect(answer.contentType == "application/json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            #expect(json["generated_at"] as? String == "2027-01-15T08:03:20Z")
            let nodes = try #require(json["nodes"] as? [[String: Any]])
            #expect(nodes.map { $0["name"] as? String } == ["Spokane-3", "Seattle-1", "Tacoma-2"])
            #expect(nodes.map { $0["state"] as? String } == ["pending", "serving", "serving"])
            #expect(nodes[1]["bytes_saved"] as? Int == 18_000_000)
            #expect(nodes[1]["disk_used_bytes"] as? Int == 1_000)
            #expect(nodes[1]["last_report_age_s"] as? Int == 70)
            #expect(nodes[1]["version"] as? String == "0.1.0")
            #expect(nodes[0]["last_report_at"] == nil)
            let minutes = try #require(json["minutes"] as? [[String: Any]])
            #expect(minutes.map { $0["bytes_from_cache"] as? Int } == [9_000_000, 9_000_000, 9_000_000])
            #expect(minutes.map { $0["nodes"] as? Int } == [2, 2, 2])
            #expect(minutes.first?["start"] as? String == "2027-01-15T08:00:00Z")
            let hours = try #require(json["hours"] as? [[String: Any]])
            #expect(hours.first?["bytes_from_cache"] as? Int == 27_000_000)
            let summary = try #require(json["summary"] as? [String: Any])
            #expect(summary["online"] as? Int == 2)
            #expect(summary["pending"] as? Int == 1)
            #expect(summary["bytes_saved_24h"] as? Int == 27_000_000)
            #expect(summary["bytes_served_24h"] as? Int == 27_000_000 + 6_000_000)
        }
    }

    /// Over HTTP the page is HTML a browser opens with the token in the address; reports are filed under the clock.
    @Test func aBrowserOpensThePageOverHTTP() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let registry = try Registry(path: path)
        let tokens = try Self.enrol(["Seattle-1"], in: registry)
        let service = HubService(registry: registry, adminToken: "admin-secret", logger: Logger(label: "test")) {
            Self.start.addingTimeInterval(3_600)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run(host: "127.0.0.1", port: 0) { continuation.yield($0) } }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let url = "http://127.0.0.1:\(port)"
            try await HubServiceTests.client(url, token: tokens["Seattle-1"]).report(
                Self.report("Seattle-1", cache: 10, origin: 1, uptime: 30)
            )
            #expect(try registry.nodes().first?.lastReportAt == Self.start.addingTimeInterval(3_600))

            // A session of its own that keeps no cookies: the cookie is sent by hand below.
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpShouldSetCookies = false
            configuration.httpCookieAcceptPolicy = .never
            let browser = URLSession(configuration: configuration)
            let (page, response) = try await browser.data(from: try #require(URL(string: url + "/?token=admin-secret")))
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 200)
            #expect(http.value(forHTTPHeaderField: "Content-Type") == "text/html; charset=utf-8")
            #expect(String(decoding: page, as: UTF8.self).contains(">Seattle-1</a></td>"))
            let (_, refused) = try await browser.data(from: try #require(URL(string: url + "/")))
            #expect((refused as? HTTPURLResponse)?.statusCode == 401)
            // The link to the node's page works with the cookie the first answer set.
            let cookie = try #require(http.value(forHTTPHeaderField: "Set-Cookie")?.split(separator: ";").first)
            var request = URLRequest(url: try #require(URL(string: url + "/node/west/Seattle-1")))
            request.setValue(String(cookie), forHTTPHeaderField: "Cookie")
            let (nodePage, nodeResponse) = try await browser.data(for: request)
            #expect((nodeResponse as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: nodePage, as: UTF8.self).contains(#"<span id="state" data-state="serving""#))
            group.cancelAll()
        }
    }
}
