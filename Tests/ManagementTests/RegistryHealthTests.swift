import CacheNodeTestSupport
import CacheNodeCore
import Foundation
import Testing

@testable import Management

/// Each node's health and issue history in the registry, and the sweep that finds silent nodes. Simulated time.
struct RegistryHealthTests {
    static let start = FleetTests.start

    static func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    static func reason(_ kind: String, _ severity: HealthState, since: Date) -> HealthReason {
        HealthReason(kind: kind, severity: severity, detail: "\(kind) detail", action: "\(kind) action", since: since)
    }

    static func report(
        _ node: String,
        _ state: HealthState = .serving,
        reasons: [HealthReason] = [],
        since: Date = start,
        issues: [NodeIssue] = [],
        interval: Int = 60
    ) -> NodeReport {
        var report = FleetTests.report(node, cache: 100, origin: 10, uptime: 30)
        report.health = NodeHealth(state: state, reasons: reasons, since: since)
        report.issues = issues
        report.intervalSeconds = interval
        return report
    }

    @Test func aChangeOfStateIsReturnedOnceWithItsReasonsAndTheStateKeepsItsSince() throws {
        try FleetTests.withRegistry { registry in
            let token = try #require(try FleetTests.enrol(["A"], in: registry)["A"])
            // A first report that says serving is no change; one that says failing is.
            #expect(try registry.record(Self.report("A"), token: token, now: Self.at(10)) == nil)
            let failing = Self.reason("origin_failing", .failing, since: Self.at(50))
            let change = try registry.record(
                Self.report("A", .failing, reasons: [failing], since: Self.at(50)),
                token: token,
                now: Self.at(70)
            )
            #expect(
                change
                    == HealthTransition(
                        hub: "west",
                        node: "A",
                        state: .failing,
                        previous: .serving,
                        reasons: [failing],
                        at: Self.at(70)
                    )
            )
            #expect(change?.isRecovery == false)
            #expect(
                try registry.record(
                    Self.report("A", .failing, reasons: [failing], since: Self.at(50)),
                    token: token,
                    now: Self.at(130)
                ) == nil
            )
            let node = try #require(try registry.nodes().first)
            #expect(node.state(now: Self.at(140)) == .failing)
            #expect(node.stateSince == Self.at(50))
            #expect(node.reasons(now: Self.at(140)) == [failing])

            let recovered = try registry.record(Self.report("A", since: Self.at(180)), token: token, now: Self.at(190))
            #expect(recovered?.state == .serving && recovered?.previous == .failing && recovered?.isRecovery == true)
            #expect(try registry.nodes().first?.stateSince == Self.at(180))
        }
    }

    /// A node whose last report failed says the hub cannot be reached; the report that arrives shows otherwise, so a
    /// hub that restarts does not see (and alert) its fleet degraded for an interval.
    @Test func aReportThatArrivedDropsTheHubUnreachableReason() throws {
        try FleetTests.withRegistry { registry in
            let token = try #require(try FleetTests.enrol(["A"], in: registry)["A"])
            try registry.record(Self.report("A"), token: token, now: Self.at(0))
            let hub = Self.reason("hub_unreachable", .degraded, since: Self.at(30))
            let drive = Self.reason("drive_nearly_full", .degraded, since: Self.at(40))
            #expect(
                try registry.record(
                    Self.report("A", .degraded, reasons: [hub], since: Self.at(30)),
                    token: token,
                    now: Self.at(60)
                ) == nil
            )
            #expect(try registry.nodes().first?.state(now: Self.at(61)) == .serving)
            #expect(try registry.nodes().first?.stateSince == Self.at(0))
            let change = try registry.record(
                Self.report("A", .degraded, reasons: [hub, drive], since: Self.at(30)),
                token: token,
                now: Self.at(120)
            )
            #expect(change?.reasons == [drive])
            #expect(try registry.nodes().first?.reasons(now: Self.at(121)) == [drive])
        }
    }

    @Test func aFirstReportThatIsNotServingIsAChange() throws {
        try FleetTests.withRegistry { registry in
            let token = try #require(try FleetTests.enrol(["A"], in: registry)["A"])
            let change = try registry.record(
                Self.report("A", .degraded, reasons: [Self.reason("drive_nearly_full", .degraded, since: Self.start)]),
                token: token,
                now: Self.at(5)
            )
            #expect(change?.previous == .pending)
            #expect(change?.state == .degraded)
        }
    }

    @Test func issuesAreKeptAsReportedEndWhenTheNodeDropsThemAndGoAfter90Days() throws {
        try FleetTests.withRegistry { registry in
            let tokens = try FleetTests.enrol(["A", "B"], in: registry)
            let a = try #require(tokens["A"])
            let dns = NodeIssue(
                kind: "origin_failing",
                severity: .failing,
                detail: "dns 4",
                action: "check DNS",
                start: Self.at(0)
            )
            let drive = NodeIssue(
                kind: "drive_nearly_full",
                severity: .degraded,
                detail: "/srv/a",
                action: "free space",
                start: Self.at(30)
            )
            try registry.record(Self.report("A", .failing, issues: [dns, drive]), token: a, now: Self.at(60))
            // The detail of an open issue follows the node's words.
            var dnsLater = dns
            dnsLater.detail = "dns 9"
            try registry.record(Self.report("A", .failing, issues: [dnsLater, drive]), token: a, now: Self.at(120))
            #expect(try registry.issues(now: Self.at(130)).map(\.issue) == [drive, dnsLater])
            // The node ends one; then it no longer mentions the other (a restart lost it): the hub ends that one.
            var dnsEnded = dnsLater
            dnsEnded.end = Self.at(150)
            try registry.record(Self.report("A", .degraded, issues: [dnsEnded, drive]), token: a, now: Self.at(180))
            #expect(try registry.issues(now: Self.at(190)).map(\.issue) == [drive, dnsEnded])
            try registry.record(Self.report("A", .serving), token: a, now: Self.at(240))
            var driveEnded = drive
            driveEnded.end = Self.at(240)
            let issues = try registry.issues(now: Self.at(250))
            #expect(issues.map(\.issue) == [driveEnded, dnsEnded])
            #expect(issues.allSatisfy { $0.hub == "west" && $0.node == "A" })
            // Open ones first, across nodes; and of one node only when asked.
            let b = try #require(tokens["B"])
            let bOpen = NodeIssue(
                kind: "hub_unreachable",
                severity: .degraded,
                detail: "x",
                action: "y",
                start: Self.at(10)
            )
            try registry.record(Self.report("B", .degraded, issues: [bOpen]), token: b, now: Self.at(260))
            #expect(try registry.issues(now: Self.at(270)).map(\.node) == ["B", "A", "A"])
            #expect(try registry.issues(hub: "west", node: "A", now: Self.at(270)).count == 2)
            #expect(try registry.issues(hub: "west", node: "A", now: Self.at(270), limit: 1).count == 1)
            #expect(throws: RegistryError.noSuchNode(node: "C", hub: "west")) {
                try registry.issues(hub: "west", node: "C")
            }
            #expect(throws: RegistryError.noSuchHub("east")) { try registry.issues(hub: "east") }
            // 90 days after they ended, a report prunes them; the open one stays.
            let later = Self.at(240 + 90 * 86_400 + 1)
            try registry.record(Self.report("B", .degraded, issues: [bOpen]), token: b, now: later)
            #expect(try registry.issues(now: Self.at(250)).map(\.issue) == [bOpen])
        }
    }

    @Test func aSilentNodeGoesOfflineOnceWithAnIssueAndItsNextReportIsARecovery() throws {
        try FleetTests.withRegistry { registry in
            let tokens = try FleetTests.enrol(["A", "B"], in: registry)
            let a = try #require(tokens["A"])
            let b = try #require(tokens["B"])
            try registry.record(Self.report("A"), token: a, now: Self.at(0))
            try registry.record(Self.report("B"), token: b, now: Self.at(0))
            try registry.record(Self.report("B"), token: b, now: Self.at(170))
            // Three intervals (180 s) and not a second more: not yet.
            #expect(try registry.markSilentNodesOffline(now: Self.at(180), notBefore: Self.start).isEmpty)
            let offline = try registry.markSilentNodesOffline(now: Self.at(181), notBefore: Self.start)
            #expect(offline.map(\.node) == ["A"])
            #expect(offline.first?.state == .offline && offline.first?.previous == .serving)
            #expect(offline.first?.reasons.map(\.kind) == ["offline"])
            #expect(try registry.markSilentNodesOffline(now: Self.at(300), notBefore: Self.start).isEmpty)
            let issue = try #require(try registry.issues(now: Self.at(300)).first)
            #expect(
                issue.node == "A" && issue.issue.kind == "offline" && issue.issue.isOpen
                    && issue.issue.start == Self.at(180)
            )
            let node = try #require(try registry.nodes().first { $0.name == "A" })
            #expect(node.state(now: Self.at(300)) == .offline)
            #expect(
                node.reasons(now: Self.at(300)).first?.detail == "no report for 5 min (the node reports every 60 s)"
            )

            let back = try registry.record(Self.report("A", since: Self.at(0)), token: a, now: Self.at(400))
            #expect(back?.state == .serving && back?.previous == .offline && back?.isRecovery == true)
            #expect(try registry.issues(now: Self.at(410)).first?.issue.end == Self.at(400))
            #expect(try registry.nodes().first { $0.name == "A" }?.stateSince == Self.at(400))
        }
    }

    /// A hub that was down itself does not call the fleet offline as it starts: silence counts from its start.
    @Test func silenceCountsFromTheServicesStart() throws {
        try FleetTests.withRegistry { registry in
            let token = try #require(try FleetTests.enrol(["A"], in: registry)["A"])
            try registry.record(Self.report("A"), token: token, now: Self.at(0))
            let started = Self.at(3_600)
            #expect(try registry.markSilentNodesOffline(now: Self.at(3_700), notBefore: started).isEmpty)
            #expect(try registry.markSilentNodesOffline(now: Self.at(3_781), notBefore: started).count == 1)
        }
    }

    /// A registry of the second version, whose reports said only `ok`, `degraded` or `down`, opens with those states.
    @Test func aVersionTwoRegistryKeepsItsNodesStates() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fleet-v2-\(UUID().uuidString).sqlite")
            .path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        func payload(_ health: String) -> String {
            #"{"node":"N","version":"0.1.0","uptime_s":30,"health":"\#(health)","bytes_from_cache":9,"bytes_from_origin":1,"#
                + #""hit_ratio":0.9,"disk_used_bytes":{"/srv/cache":123},"peak_egress_bps":1,"interval_s":60}"#
        }
        var script = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1'), ('v2');
            CREATE TABLE hub (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at DATETIME NOT NULL);
            CREATE TABLE node (id INTEGER PRIMARY KEY, hub_id INTEGER NOT NULL REFERENCES hub(id) ON DELETE CASCADE,
                name TEXT NOT NULL COLLATE NOCASE, created_at DATETIME NOT NULL, enrolment_digest TEXT, token_digest TEXT UNIQUE,
                UNIQUE (hub_id, name));
            CREATE TABLE node_latest (node_id INTEGER PRIMARY KEY REFERENCES node(id) ON DELETE CASCADE,
                received_at DATETIME NOT NULL, payload TEXT NOT NULL, from_cache INTEGER NOT NULL, from_origin INTEGER NOT NULL,
                uptime_s INTEGER NOT NULL, saved INTEGER NOT NULL);
            INSERT INTO hub VALUES (1, 'west', '2027-01-15 08:00:00.000');

            """
        for (index, health) in ["ok", "degraded", "down"].enumerated() {
            script += """
                INSERT INTO node VALUES (\(index + 1), 1, '\(health)', '2027-01-15 08:00:00.000', NULL, 'digest-\(index)');
                INSERT INTO node_latest VALUES (\(index + 1), '2027-01-15 08:00:10.000', '\(payload(health))', 9, 1, 30, 9);

                """
        }
        let sqlite = try ChildProcess.run(["/usr/bin/sqlite3", path, script])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")

        let registry = try Registry(path: path)
        let now = Self.at(20)
        let nodes = try registry.nodes()
        #expect(
            nodes.map { "\($0.name) \($0.state(now: now))" } == ["degraded degraded", "down failing", "ok serving"]
        )
        #expect(nodes.map { $0.stateSince } == Array(repeating: Self.at(10), count: 3))
        #expect(nodes[1].reasons(now: now).map(\.detail) == ["the engine does not answer"])
        // The sweep reads the migrated rows too.
        #expect(try registry.markSilentNodesOffline(now: Self.at(200), notBefore: Self.start).count == 3)
    }
}
