import CacheNodeCore
import Crypto
import Foundation
import GRDB
import Synchronization

/// Why the registry refused something; each says what to do.
package enum RegistryError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case hubExists(String)
    case noSuchHub(String)
    case nodeExists(node: String, hub: String)
    case noSuchNode(node: String, hub: String)
    case badKey
    case badToken
    case storage(String)

    package var description: String {
        switch self {
        case .invalidName(let problem): problem
        case .hubExists(let hub): "hub \(hub) already exists"
        case .noSuchHub(let hub): "no hub named \(hub) (cachenode hub list shows them)"
        case let .nodeExists(node, hub): "hub \(hub) already has a node named \(node); node names are unique in their hub"
        case let .noSuchNode(node, hub): "hub \(hub) has no node named \(node)"
        case .badKey: "the enrolment key is not valid (each key works once)"
        case .badToken: "the node token is not valid"
        case .storage(let problem): "the registry: \(problem)"
        }
    }
}

package struct HubRecord: Equatable, Sendable, Codable {
    package var name: String
    package var createdAt: Date
    package var nodes: Int
}

package struct NodeRecord: Equatable, Sendable, Codable {
    package var name: String
    package var hub: String
    package var createdAt: Date
    package var enrolled: Bool
    package var lastReport: NodeReport?
    package var lastReportAt: Date?
    /// Bytes served from the cache since the node's first report, counted by the hub across engine restarts.
    package var bytesSaved: Int64?
}

/// What a running node tells its hub every interval.
package struct NodeReport: Equatable, Sendable, Codable {
    package var node: String
    package var version: String
    package var uptimeSeconds: Int
    package var health: String
    package var bytesFromCache: Int64
    package var bytesFromOrigin: Int64
    package var hitRatio: Double
    package var diskUsedBytes: [String: Int64]
    package var peakEgressBitsPerSecond: Double
    package var intervalSeconds: Int

    package init(
        node: String,
        version: String,
        uptimeSeconds: Int,
        health: String,
        bytesFromCache: Int64,
        bytesFromOrigin: Int64,
        hitRatio: Double,
        diskUsedBytes: [String: Int64],
        peakEgressBitsPerSecond: Double,
        intervalSeconds: Int
    ) {
        self.node = node
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.health = health
        self.bytesFromCache = bytesFromCache
        self.bytesFromOrigin = bytesFromOrigin
        self.hitRatio = hitRatio
        self.diskUsedBytes = diskUsedBytes
        self.peakEgressBitsPerSecond = peakEgressBitsPerSecond
        self.intervalSeconds = intervalSeconds
    }

    enum CodingKeys: String, CodingKey {
        case node, version, health
        case uptimeSeconds = "uptime_s"
        case bytesFromCache = "bytes_from_cache"
        case bytesFromOrigin = "bytes_from_origin"
        case hitRatio = "hit_ratio"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
        case intervalSeconds = "interval_s"
    }
}

/// The hubs, their nodes and the nodes' traffic, in an SQLite database (GRDB, write-ahead log).
///
/// Node names are unique in their hub (ignoring case) and never change; deleting a node is final.
/// Enrolment keys and node tokens are stored only as SHA-256 digests. Of the reports, the registry keeps each node's
/// latest and rolls them up per minute for a day and per hour for 90 days.
package final class Registry: Sendable {
    private let database: DatabasePool
    /// The fleet's sums of periods that take no more reports, so a view reads only the newest rows.
    private let settled = Mutex<[RollupResolution: SettledSums]>([:])

    private struct SettledSums {
        /// `node_deletions` when the sums were made: a node's deletion takes its rollups.
        var deletions: Int
        var through: Int64
        var periods: [FleetPeriod]
    }

    package init(path: String) throws(RegistryError) {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw .storage("\(path): \(error)")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE hub (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE node (
                        id INTEGER PRIMARY KEY,
                        hub_id INTEGER NOT NULL REFERENCES hub(id) ON DELETE CASCADE,
                        name TEXT NOT NULL COLLATE NOCASE,
                        created_at DATETIME NOT NULL,
                        enrolment_digest TEXT,
                        token_digest TEXT UNIQUE,
                        UNIQUE (hub_id, name)
                    );
                    CREATE TABLE report (
                        node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
                        received_at DATETIME NOT NULL,
                        payload TEXT NOT NULL
                    );
                    CREATE INDEX report_by_node ON report(node_id, received_at);
                    CREATE TRIGGER node_name_is_fixed BEFORE UPDATE OF name, hub_id ON node
                    BEGIN SELECT RAISE(ABORT, 'node names cannot change'); END;
                    """
            )
        }
        migrator.registerMigration("v2") { db in
            // Rollup rows are keyed by period first: new rows append, old ones go from the front, and the fleet's
            // sums read them in order.
            try db.execute(
                sql: """
                    CREATE TABLE node_latest (
                        node_id INTEGER PRIMARY KEY REFERENCES node(id) ON DELETE CASCADE,
                        received_at DATETIME NOT NULL,
                        payload TEXT NOT NULL,
                        from_cache INTEGER NOT NULL,
                        from_origin INTEGER NOT NULL,
                        uptime_s INTEGER NOT NULL,
                        saved INTEGER NOT NULL
                    );
                    CREATE TABLE rollup_minute (
                        period INTEGER NOT NULL,
                        node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
                        from_cache INTEGER NOT NULL,
                        from_origin INTEGER NOT NULL,
                        hit_ratio REAL NOT NULL,
                        disk_used INTEGER NOT NULL,
                        peak_egress REAL NOT NULL,
                        reports INTEGER NOT NULL,
                        PRIMARY KEY (period, node_id)
                    ) WITHOUT ROWID;
                    CREATE TABLE rollup_hour (
                        period INTEGER NOT NULL,
                        node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
                        from_cache INTEGER NOT NULL,
                        from_origin INTEGER NOT NULL,
                        hit_ratio REAL NOT NULL,
                        disk_used INTEGER NOT NULL,
                        peak_egress REAL NOT NULL,
                        reports INTEGER NOT NULL,
                        PRIMARY KEY (period, node_id)
                    ) WITHOUT ROWID;
                    CREATE TABLE node_deletions (count INTEGER NOT NULL);
                    INSERT INTO node_deletions VALUES (0);
                    CREATE TRIGGER node_deleted AFTER DELETE ON node BEGIN UPDATE node_deletions SET count = count + 1; END;
                    """
            )
            // The day of raw reports v1 kept becomes rollups, so the history survives the upgrade.
            let reports = try Row.fetchCursor(db, sql: "SELECT node_id, received_at, payload FROM report ORDER BY node_id, received_at")
            while let row = try reports.next() {
                let payload: String = row["payload"]
                guard let report = try? JSONDecoder().decode(NodeReport.self, from: Data(payload.utf8)) else { continue }
                try Registry.rollUp(db, node: row["node_id"], report, payload: payload, now: row["received_at"])
            }
            try db.execute(sql: "DROP TABLE report")
        }
        return migrator
    }

    // MARK: Hubs

    @discardableResult
    package func createHub(_ name: String, now: Date = Date()) throws(RegistryError) -> HubRecord {
        if let problem = NameRules.hubNameProblem(name) { throw .invalidName("hub name: \(problem) (\(NameRules.hubNameRule))") }
        return try write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM hub WHERE name = ?", arguments: [name]) != nil {
                throw RegistryError.hubExists(name)
            }
            try db.execute(sql: "INSERT INTO hub (name, created_at) VALUES (?, ?)", arguments: [name, now])
            return HubRecord(name: name, createdAt: now, nodes: 0)
        }
    }

    package func hubs() throws(RegistryError) -> [HubRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT hub.name, hub.created_at, COUNT(node.id) AS nodes
                    FROM hub LEFT JOIN node ON node.hub_id = hub.id GROUP BY hub.id ORDER BY hub.name
                    """
            ).map { HubRecord(name: $0["name"], createdAt: $0["created_at"], nodes: $0["nodes"]) }
        }
    }

    // MARK: Nodes

    /// Adds a node to a hub; returns the one-time key the node enrols with.
    package func createNode(_ name: String, hub: String, now: Date = Date()) throws(RegistryError) -> String {
        if let problem = NameRules.nodeNameProblem(name) {
            throw .invalidName("node name: \(problem) (\(NameRules.nodeNameRule))")
        }
        let key = Self.randomToken()
        try write { db in
            let hubID = try Self.hubID(db, hub)
            if try Row.fetchOne(db, sql: "SELECT 1 FROM node WHERE hub_id = ? AND name = ?", arguments: [hubID, name]) != nil {
                throw RegistryError.nodeExists(node: name, hub: hub)
            }
            try db.execute(
                sql: "INSERT INTO node (hub_id, name, created_at, enrolment_digest) VALUES (?, ?, ?, ?)",
                arguments: [hubID, name, now, Self.digest(key)]
            )
        }
        return key
    }

    package func nodes(hub: String? = nil) throws(RegistryError) -> [NodeRecord] {
        try read { db in
            var sql = """
                SELECT node.name, hub.name AS hub, node.created_at, node.token_digest,
                    node_latest.payload, node_latest.received_at, node_latest.saved
                FROM node JOIN hub ON hub.id = node.hub_id LEFT JOIN node_latest ON node_latest.node_id = node.id
                """
            var arguments: StatementArguments = []
            if let hub {
                _ = try Self.hubID(db, hub)
                sql += " WHERE hub.name = ?"
                arguments = [hub]
            }
            sql += " ORDER BY hub.name, node.name"
            let decoder = JSONDecoder()
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let payload: String? = row["payload"]
                return NodeRecord(
                    name: row["name"],
                    hub: row["hub"],
                    createdAt: row["created_at"],
                    enrolled: (row["token_digest"] as String?) != nil,
                    lastReport: payload.flatMap { try? decoder.decode(NodeReport.self, from: Data($0.utf8)) },
                    lastReportAt: row["received_at"],
                    bytesSaved: row["saved"]
                )
            }
        }
    }

    /// Removes a node and its reports for good.
    package func deleteNode(_ name: String, hub: String) throws(RegistryError) {
        try write { db in
            let hubID = try Self.hubID(db, hub)
            try db.execute(sql: "DELETE FROM node WHERE hub_id = ? AND name = ?", arguments: [hubID, name])
            if db.changesCount == 0 { throw RegistryError.noSuchNode(node: name, hub: hub) }
        }
    }

    /// Trades a one-time enrolment key for the node's report token.
    package func enrol(node: String, hub: String, key: String) throws(RegistryError) -> String {
        let token = Self.randomToken()
        try write { db in
            let hubID = try Self.hubID(db, hub)
            try db.execute(
                sql: """
                    UPDATE node SET token_digest = ?, enrolment_digest = NULL
                    WHERE hub_id = ? AND name = ? AND enrolment_digest = ?
                    """,
                arguments: [Self.digest(token), hubID, node, Self.digest(key)]
            )
            if db.changesCount == 0 { throw RegistryError.badKey }
        }
        return token
    }

    /// Records a report from the node that holds `token`; a bad token records nothing.
    ///
    /// The report becomes the node's latest and is added to its rollups of `now`'s minute and hour; rollups older
    /// than their window go at the same time.
    package func record(_ report: NodeReport, token: String, now: Date = Date()) throws(RegistryError) {
        let payload = String(decoding: (try? JSONEncoder().encode(report)) ?? Data(), as: UTF8.self)
        let digest = Self.digest(token)
        try write { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, name FROM node WHERE token_digest = ?"), arguments: [digest])
            else { throw RegistryError.badToken }
            guard (row["name"] as String).lowercased() == report.node.lowercased() else { throw RegistryError.badToken }
            try Self.rollUp(db, node: row["id"], report, payload: payload, now: now)
        }
    }

    /// One node's rollups within the window of `resolution` that ends at `now`, oldest first.
    ///
    /// Scans the window's rows of every node: for tests and diagnosis, not for every request.
    package func rollups(node: String, hub: String, _ resolution: RollupResolution, now: Date = Date()) throws(RegistryError) -> [NodeRollup] {
        try read { db in
            let hubID = try Self.hubID(db, hub)
            guard let nodeID = try Int64.fetchOne(db, sql: "SELECT id FROM node WHERE hub_id = ? AND name = ?", arguments: [hubID, node]) else {
                throw RegistryError.noSuchNode(node: node, hub: hub)
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT period, from_cache, from_origin, hit_ratio, disk_used, peak_egress, reports FROM \(resolution.table)
                    WHERE period > ? AND node_id = ? ORDER BY period
                    """,
                arguments: [resolution.oldestDropped(now: now), nodeID]
            ).map { row in
                NodeRollup(
                    start: resolution.start(of: row["period"]),
                    bytesFromCache: row["from_cache"],
                    bytesFromOrigin: row["from_origin"],
                    hitRatio: row["hit_ratio"],
                    diskUsedBytes: row["disk_used"],
                    peakEgressBitsPerSecond: row["peak_egress"],
                    reports: row["reports"]
                )
            }
        }
    }

    /// The fleet's traffic per period within the window of `resolution` that ends at `now`, oldest first; periods
    /// without a report are left out.
    ///
    /// Reports are filed under the time they arrive, so a period two periods old takes no more: its sums are kept in
    /// memory and a call sums only the newer rows. A node's deletion, in any process, makes the next call sum the whole
    /// window again.
    package func fleet(_ resolution: RollupResolution, now: Date = Date()) throws(RegistryError) -> [FleetPeriod] {
        let current = resolution.period(of: now)
        let first = resolution.oldestDropped(now: now) + 1
        return try read { db in
            let deletions = try Int.fetchOne(db, sql: "SELECT count FROM node_deletions") ?? 0
            let known = settled.withLock { $0[resolution] }.flatMap { $0.deletions == deletions && $0.through < current ? $0 : nil }
            let fresh = try Row.fetchAll(
                db,
                sql: """
                    SELECT period, SUM(from_cache) AS from_cache, SUM(from_origin) AS from_origin, SUM(disk_used) AS disk_used,
                        SUM(peak_egress) AS peak_egress, SUM(reports) AS reports, COUNT(*) AS nodes
                    FROM \(resolution.table) WHERE period >= ? GROUP BY period ORDER BY period
                    """,
                arguments: [max(first, known.map { $0.through + 1 } ?? first)]
            ).map { row in
                FleetPeriod(
                    start: resolution.start(of: row["period"]),
                    bytesFromCache: row["from_cache"],
                    bytesFromOrigin: row["from_origin"],
                    diskUsedBytes: row["disk_used"],
                    peakEgressBitsPerSecond: row["peak_egress"],
                    reports: row["reports"],
                    nodes: row["nodes"]
                )
            }
            let periods = (known?.periods ?? []).filter { resolution.period(of: $0.start) >= first } + fresh
            // One period of grace: a report that read the clock just before a period ended may be written after.
            let through = current - 2
            let sums = SettledSums(deletions: deletions, through: through, periods: periods.filter { resolution.period(of: $0.start) <= through })
            settled.withLock { $0[resolution] = sums }
            return periods
        }
    }

    /// How many rows each report table holds, to check that they stay bounded.
    package func rowCounts() throws(RegistryError) -> (latest: Int, minutes: Int, hours: Int) {
        try read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM node_latest") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_minute") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rollup_hour") ?? 0
            )
        }
    }

    /// Folds a report into its node's latest report and its rollups of `now`, and drops rollups out of their window.
    private static func rollUp(_ db: Database, node id: Int64, _ report: NodeReport, payload: String, now: Date) throws {
        let previous = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT from_cache, from_origin, uptime_s FROM node_latest WHERE node_id = ?"),
            arguments: [id]
        ).map { TrafficDelta.Totals(fromCache: $0["from_cache"], fromOrigin: $0["from_origin"], uptimeSeconds: $0["uptime_s"]) }
        let delta = TrafficDelta(previous: previous, report: report)
        try db.cachedStatement(
            sql: """
                INSERT INTO node_latest (node_id, received_at, payload, from_cache, from_origin, uptime_s, saved)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (node_id) DO UPDATE SET received_at = excluded.received_at, payload = excluded.payload,
                    from_cache = excluded.from_cache, from_origin = excluded.from_origin, uptime_s = excluded.uptime_s,
                    saved = saved + excluded.saved
                """
        ).execute(arguments: [id, now, payload, report.bytesFromCache, report.bytesFromOrigin, report.uptimeSeconds, delta.fromCache])
        let diskUsed = report.diskUsedBytes.values.reduce(0, +)
        for resolution in RollupResolution.allCases {
            try db.cachedStatement(
                sql: """
                    INSERT INTO \(resolution.table) (period, node_id, from_cache, from_origin, hit_ratio, disk_used, peak_egress, reports)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 1)
                    ON CONFLICT (period, node_id) DO UPDATE SET from_cache = from_cache + excluded.from_cache,
                        from_origin = from_origin + excluded.from_origin, hit_ratio = excluded.hit_ratio,
                        disk_used = excluded.disk_used, peak_egress = MAX(peak_egress, excluded.peak_egress),
                        reports = reports + 1
                    """
            ).execute(arguments: [
                resolution.period(of: now), id, delta.fromCache, delta.fromOrigin, report.hitRatio, diskUsed,
                report.peakEgressBitsPerSecond,
            ])
            // The oldest rows come first in the key's order: when there is nothing to drop this is one lookup.
            try db.cachedStatement(sql: "DELETE FROM \(resolution.table) WHERE period <= ?")
                .execute(arguments: [resolution.oldestDropped(now: now)])
        }
    }

    // MARK: Plumbing

    private static func hubID(_ db: Database, _ hub: String) throws -> Int64 {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM hub WHERE name = ?", arguments: [hub]) else {
            throw RegistryError.noSuchHub(hub)
        }
        return id
    }

    private func write<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do {
            return try database.write(body)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do {
            return try database.read(body)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    static func digest(_ secret: String) -> String {
        hex(SHA256.hash(data: Data(secret.utf8)))
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Lower-case hex pairs; `String(format:)` is slow, and a digest is made for every report.
    private static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A node's state as the fleet view shows it.
package enum NodeState: String, Sendable, Codable {
    case online
    case offline
    /// Created but never reported.
    case pending
}

extension NodeRecord {
    /// Offline after three intervals of silence.
    package func state(now: Date, defaultInterval: Int = 60) -> NodeState {
        guard let lastReportAt else { return .pending }
        let interval = Double(lastReport?.intervalSeconds ?? defaultInterval)
        return now.timeIntervalSince(lastReportAt) > 3 * interval ? .offline : .online
    }
}

/// The two rollups of reports: per minute for a day, per hour for 90 days.
package enum RollupResolution: String, CaseIterable, Sendable {
    case minute
    case hour

    package var seconds: Int {
        switch self {
        case .minute: 60
        case .hour: 3600
        }
    }

    /// How many periods are kept, the current one included.
    package var kept: Int {
        switch self {
        case .minute: 1440
        case .hour: 90 * 24
        }
    }

    var table: String { "rollup_" + rawValue }

    /// The period `date` falls in, counted from 1970.
    package func period(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(seconds)).rounded(.down))
    }

    package func start(of period: Int64) -> Date {
        Date(timeIntervalSince1970: Double(period) * Double(seconds))
    }

    /// The newest period that is out of the window ending at `now`.
    func oldestDropped(now: Date) -> Int64 { period(of: now) - Int64(kept) }
}

/// What a report adds to its node's traffic. Reports carry running totals since the engine started, so the traffic
/// of an interval is the difference to the previous report; totals that went down mean the engine restarted, and
/// then the new totals are the interval's traffic.
struct TrafficDelta: Equatable {
    struct Totals: Equatable {
        var fromCache: Int64
        var fromOrigin: Int64
        var uptimeSeconds: Int
    }

    var fromCache: Int64
    var fromOrigin: Int64

    init(fromCache: Int64, fromOrigin: Int64) {
        self.fromCache = fromCache
        self.fromOrigin = fromOrigin
    }

    /// `previous` is `nil` for a node's first report: its totals count only when the engine started within the
    /// interval; otherwise they hold traffic from before the hub knew the node and only set the baseline.
    init(previous: Totals?, report: NodeReport) {
        let restarted: Bool
        if let previous {
            restarted = report.bytesFromCache < previous.fromCache || report.bytesFromOrigin < previous.fromOrigin
                || report.uptimeSeconds < previous.uptimeSeconds
        } else {
            restarted = report.uptimeSeconds <= report.intervalSeconds
        }
        if restarted {
            self.init(fromCache: max(0, report.bytesFromCache), fromOrigin: max(0, report.bytesFromOrigin))
        } else if let previous {
            self.init(fromCache: report.bytesFromCache - previous.fromCache, fromOrigin: report.bytesFromOrigin - previous.fromOrigin)
        } else {
            self.init(fromCache: 0, fromOrigin: 0)
        }
    }
}

/// One node's traffic in one minute or hour.
package struct NodeRollup: Equatable, Sendable, Codable {
    package var start: Date
    package var bytesFromCache: Int64
    package var bytesFromOrigin: Int64
    /// As the period's last report gave it.
    package var hitRatio: Double
    package var diskUsedBytes: Int64
    package var peakEgressBitsPerSecond: Double
    package var reports: Int

    enum CodingKeys: String, CodingKey {
        case start, reports
        case bytesFromCache = "bytes_from_cache"
        case bytesFromOrigin = "bytes_from_origin"
        case hitRatio = "hit_ratio"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
    }
}

/// The fleet's traffic in one minute or hour: its nodes' rollups summed.
package struct FleetPeriod: Equatable, Sendable, Codable {
    package var start: Date
    package var bytesFromCache: Int64
    package var bytesFromOrigin: Int64
    package var diskUsedBytes: Int64
    /// The sum of the nodes' peaks: what the fleet's peak cannot exceed.
    package var peakEgressBitsPerSecond: Double
    package var reports: Int
    /// The nodes that reported in the period.
    package var nodes: Int

    /// Bytes served to clients: from the cache and from the origin.
    package var bytesServed: Int64 { bytesFromCache + bytesFromOrigin }

    enum CodingKeys: String, CodingKey {
        case start, reports, nodes
        case bytesFromCache = "bytes_from_cache"
        case bytesFromOrigin = "bytes_from_origin"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
    }
}
