import CacheNodeCore
import Foundation
import GRDB

extension Registry {
    /// Records a report from the node that holds `token`; a bad token records nothing. Returns the node's change of
    /// state, if any, for the alerts.
    ///
    /// The report becomes the node's latest and is added to its rollups of `now`'s minute and hour; rollups older
    /// than their window go at the same time. Its issues are written only when they differ from the previous
    /// report's, so a report of a node that stays as it was costs no more than before.
    @discardableResult
    package func record(_ report: NodeReport, token: String, now: Date = Date()) throws(RegistryError)
        -> HealthTransition?
    {
        let digest = Self.digest(token)
        let report = report.received()
        var latest = report
        latest.issues = []
        let issues = report.issues
        let issuesDigest = issues.isEmpty ? 0 : Self.fnv1a((try? JSONEncoder().encode(issues)) ?? Data())
        return try write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT id, name FROM node WHERE token_digest = ?"),
                    arguments: [digest]
                )
            else { throw RegistryError.badToken }
            let name: String = row["name"]
            guard name.lowercased() == report.node.lowercased() else { throw RegistryError.badToken }
            let id: Int64 = row["id"]
            let previous = try Row.fetchOne(
                db.cachedStatement(
                    sql:
                        "SELECT from_cache, from_origin, uptime_s, state, state_since, issues_digest FROM node_latest WHERE node_id = ?"
                ),
                arguments: [id]
            )
            let previousState = previous.map { NodeState(rawValue: $0["state"]) ?? .serving } ?? .pending
            let state = NodeState(report.health.state)
            let since: Date
            if state == previousState, let kept: Date = previous?["state_since"] {
                since = kept
            } else if previousState == .offline {
                // Back from a silence: the state the hub sees begins now.
                since = now
            } else {
                since = report.health.since == .distantPast ? now : report.health.since
            }
            if latest.health.since == .distantPast {
                // An older node's report: its state has no time of its own.
                latest.health.since = since
                for index in latest.health.reasons.indices { latest.health.reasons[index].since = since }
            }
            let payload = String(decoding: (try? JSONEncoder().encode(latest)) ?? Data(), as: UTF8.self)
            try Self.foldTraffic(
                db,
                node: id,
                latest,
                payload: payload,
                previous: previous,
                now: now,
                schema: .v3(state: state, since: since, issuesDigest: issuesDigest)
            )
            if issuesDigest != (previous?["issues_digest"] ?? 0) || previousState == .offline {
                try Self.writeIssues(db, node: id, issues, now: now)
            }
            try db.cachedStatement(sql: "DELETE FROM node_issue WHERE end IS NOT NULL AND end <= ?")
                .execute(arguments: [now.addingTimeInterval(-Self.issueDays * 86_400)])
            guard state != previousState, previousState != .pending || state != .serving else { return nil }
            let hub = try String.fetchOne(
                db,
                sql: "SELECT hub.name FROM hub JOIN node ON node.hub_id = hub.id WHERE node.id = ?",
                arguments: [id]
            )
            return HealthTransition(
                hub: hub ?? "",
                node: name,
                state: state,
                previous: previousState,
                reasons: latest.health.reasons,
                at: now
            )
        }
    }

    /// How long the registry keeps an issue after it ended.
    package static let issueDays = 90.0

    /// The node's issues as it reported them: the hub's open ones end now unless the report has them open still.
    /// An issue is known by its start, its kind and its place among the node's issues of that start and kind.
    static func writeIssues(_ db: Database, node id: Int64, _ issues: [NodeIssue], now: Date) throws {
        try db.cachedStatement(sql: "UPDATE node_issue SET end = ? WHERE node_id = ? AND end IS NULL").execute(
            arguments: [now, id])
        let cutoff = now.addingTimeInterval(-issueDays * 86_400)
        var places: [String: Int] = [:]
        for issue in issues {
            let key = "\(issue.kind) \(issue.start.timeIntervalSince1970)"
            let place = places[key, default: 0]
            places[key] = place + 1
            if let end = issue.end, end <= cutoff { continue }
            try db.cachedStatement(
                sql: """
                    INSERT INTO node_issue (node_id, start, kind, seq, end, severity, detail, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node_id, start, kind, seq) DO UPDATE SET end = excluded.end, severity = excluded.severity,
                        detail = excluded.detail, action = excluded.action
                    """
            ).execute(arguments: [
                id, issue.start, issue.kind, place, issue.end, issue.severity.rawValue, issue.detail, issue.action,
            ])
        }
    }

    /// What `foldTraffic` writes besides the traffic: nothing before v3; from v3 on the node's health.
    enum Schema {
        case v2
        case v3(state: NodeState, since: Date, issuesDigest: Int64)
    }

    /// Folds a report into its node's latest report and its rollups of `now`, and drops rollups out of their window.
    /// `previous` is the node's latest row (`from_cache`, `from_origin`, `uptime_s`), `nil` before its first report.
    static func foldTraffic(
        _ db: Database,
        node id: Int64,
        _ report: NodeReport,
        payload: String,
        previous row: Row?,
        now: Date,
        schema: Schema
    ) throws {
        let previous = row.map {
            TrafficDelta.Totals(
                fromCache: $0["from_cache"],
                fromOrigin: $0["from_origin"],
                uptimeSeconds: $0["uptime_s"]
            )
        }
        let delta = TrafficDelta(previous: previous, report: report)
        switch schema {
        case .v2:
            try db.cachedStatement(
                sql: """
                    INSERT INTO node_latest (node_id, received_at, payload, from_cache, from_origin, uptime_s, saved)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node_id) DO UPDATE SET received_at = excluded.received_at, payload = excluded.payload,
                        from_cache = excluded.from_cache, from_origin = excluded.from_origin, uptime_s = excluded.uptime_s,
                        saved = saved + excluded.saved
                    """
            ).execute(arguments: [
                id, now, payload, report.bytesFromCache, report.bytesFromOrigin, report.uptimeSeconds, delta.fromCache,
            ])
        case let .v3(state, since, issuesDigest):
            try db.cachedStatement(
                sql: """
                    INSERT INTO node_latest (node_id, received_at, payload, from_cache, from_origin, uptime_s, saved, state,
                        state_since, interval_s, issues_digest)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node_id) DO UPDATE SET received_at = excluded.received_at, payload = excluded.payload,
                        from_cache = excluded.from_cache, from_origin = excluded.from_origin, uptime_s = excluded.uptime_s,
                        saved = saved + excluded.saved, state = excluded.state, state_since = excluded.state_since,
                        interval_s = excluded.interval_s, issues_digest = excluded.issues_digest
                    """
            ).execute(arguments: [
                id, now, payload, report.bytesFromCache, report.bytesFromOrigin, report.uptimeSeconds, delta.fromCache,
                state.rawValue, since, report.intervalSeconds, issuesDigest,
            ])
        }
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

    /// FNV-1a, 64 bits: a digest of a report's issues that stays the same across runs (`Hasher`'s does not).
    static func fnv1a(_ data: Data) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash == 0 ? 1 : hash)
    }

    /// One node's rollups within the window of `resolution` that ends at `now`, oldest first.
    ///
    /// One lookup per period of the window (rows are keyed by period first): a node's page reads only its own rows.
    package func rollups(node: String, hub: String, _ resolution: RollupResolution, now: Date = Date())
        throws(RegistryError) -> [NodeRollup]
    {
        try read { db in
            let hubID = try Self.hubID(db, hub)
            guard
                let nodeID = try Int64.fetchOne(
                    db,
                    sql: "SELECT id FROM node WHERE hub_id = ? AND name = ?",
                    arguments: [hubID, node]
                )
            else {
                throw RegistryError.noSuchNode(node: node, hub: hub)
            }
            return try Row.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE window(period) AS (SELECT ? UNION ALL SELECT period + 1 FROM window WHERE period < ?)
                    SELECT rollup.period, from_cache, from_origin, hit_ratio, disk_used, peak_egress, reports
                    FROM window JOIN \(resolution.table) AS rollup ON rollup.period = window.period AND rollup.node_id = ?
                    ORDER BY rollup.period
                    """,
                arguments: [resolution.oldestDropped(now: now) + 1, resolution.period(of: now), nodeID]
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
            let known = settled.withLock { $0[resolution] }.flatMap {
                $0.deletions == deletions && $0.through < current ? $0 : nil
            }
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
            let sums = SettledSums(
                deletions: deletions,
                through: through,
                periods: periods.filter { resolution.period(of: $0.start) <= through }
            )
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
}
