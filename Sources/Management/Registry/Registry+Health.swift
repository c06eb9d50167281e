import CacheNodeCore
import Foundation
import GRDB

/// A node's change of state, as the alerts tell it.
package struct HealthTransition: Equatable, Sendable, Codable {
    package var hub: String
    package var node: String
    package var state: NodeState
    /// `pending` for a node's first report.
    package var previous: NodeState
    package var reasons: [HealthReason]
    package var at: Date

    package init(hub: String, node: String, state: NodeState, previous: NodeState, reasons: [HealthReason], at: Date) {
        self.hub = hub
        self.node = node
        self.state = state
        self.previous = previous
        self.reasons = reasons
        self.at = at
    }

    /// Whether the node got better: back to serving, or from failing or offline to degraded. A failing node that
    /// goes silent did not.
    package var isRecovery: Bool {
        switch (previous, state) {
        case (.pending, _): false
        case (_, .serving): true
        case (.failing, .degraded), (.offline, .degraded): true
        default: false
        }
    }
}

/// One of a node's issues, with the node it belongs to: what `GET /v1/issues` lists.
package struct FleetIssue: Equatable, Sendable, Codable {
    package var hub: String
    package var node: String
    package var issue: NodeIssue

    package init(hub: String, node: String, issue: NodeIssue) {
        self.hub = hub
        self.node = node
        self.issue = issue
    }

    enum CodingKeys: String, CodingKey { case hub, node }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        hub = try container.decode(String.self, forKey: .hub)
        node = try container.decode(String.self, forKey: .node)
        issue = try NodeIssue(from: decoder)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hub, forKey: .hub)
        try container.encode(node, forKey: .node)
        try issue.encode(to: encoder)
    }
}

extension Registry {
    /// The issues of the last 90 days, open ones first, then the newest; of one hub or one node when asked.
    package func issues(hub: String? = nil, node: String? = nil, now: Date = Date(), limit: Int = 1_000)
        throws(RegistryError) -> [FleetIssue]
    {
        try read { db in
            var conditions = ["(node_issue.end IS NULL OR node_issue.end > ?)"]
            var arguments: StatementArguments = [now.addingTimeInterval(-Self.issueDays * 86_400)]
            if let hub {
                let hubID = try Self.hubID(db, hub)
                conditions.append("node.hub_id = ?")
                _ = arguments.append(contentsOf: [hubID])
                if let node,
                    try Row.fetchOne(
                        db,
                        sql: "SELECT 1 FROM node WHERE hub_id = ? AND name = ?",
                        arguments: [hubID, node]
                    ) == nil
                {
                    throw RegistryError.noSuchNode(node: node, hub: hub)
                }
            }
            if let node {
                conditions.append("node.name = ?")
                _ = arguments.append(contentsOf: [node])
            }
            _ = arguments.append(contentsOf: [max(0, limit)])
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT hub.name AS hub, node.name AS node, node_issue.start, node_issue.kind, node_issue.end,
                        node_issue.severity, node_issue.detail, node_issue.action
                    FROM node_issue JOIN node ON node.id = node_issue.node_id JOIN hub ON hub.id = node.hub_id
                    WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY node_issue.end IS NOT NULL, node_issue.start DESC, hub.name, node.name LIMIT ?
                    """,
                arguments: arguments
            ).map { row in
                FleetIssue(
                    hub: row["hub"],
                    node: row["node"],
                    issue: NodeIssue(
                        kind: row["kind"],
                        severity: HealthState(rawValue: row["severity"]) ?? .degraded,
                        detail: row["detail"],
                        action: row["action"],
                        start: row["start"],
                        end: row["end"]
                    )
                )
            }
        }
    }

    /// Marks the nodes silent for three intervals offline, opens an `offline` issue for each, and returns their
    /// changes of state. Silence counts from `notBefore` at the earliest: a hub that was down itself does not call its
    /// whole fleet offline when it starts.
    package func markSilentNodesOffline(now: Date, notBefore: Date) throws(RegistryError) -> [HealthTransition] {
        struct Candidate {
            var id: Int64
            var receivedAt: Date
            var interval: Int
            var state: NodeState
            var node: String
            var hub: String
        }
        let candidates = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT node_latest.node_id, node_latest.received_at, node_latest.interval_s, node_latest.state,
                        node.name, hub.name AS hub
                    FROM node_latest JOIN node ON node.id = node_latest.node_id JOIN hub ON hub.id = node.hub_id
                    WHERE node_latest.state != 'offline'
                    """
            ).compactMap { row -> Candidate? in
                let receivedAt: Date = row["received_at"]
                let interval: Int = row["interval_s"]
                guard now.timeIntervalSince(max(receivedAt, notBefore)) > 3 * Double(interval) else { return nil }
                return Candidate(
                    id: row["node_id"],
                    receivedAt: receivedAt,
                    interval: interval,
                    state: NodeState(rawValue: row["state"]) ?? .serving,
                    node: row["name"],
                    hub: row["hub"]
                )
            }
        }
        guard !candidates.isEmpty else { return [] }
        return try write { db in
            var transitions: [HealthTransition] = []
            for candidate in candidates {
                let since = max(candidate.receivedAt.addingTimeInterval(3 * Double(candidate.interval)), notBefore)
                // Only if no report came in meanwhile.
                try db.execute(
                    sql:
                        "UPDATE node_latest SET state = 'offline', state_since = ? WHERE node_id = ? AND received_at = ? AND state != 'offline'",
                    arguments: [since, candidate.id, candidate.receivedAt]
                )
                guard db.changesCount > 0 else { continue }
                let reason = HealthReason.offline(
                    since: since,
                    silentSeconds: Int(now.timeIntervalSince(candidate.receivedAt)),
                    intervalSeconds: candidate.interval
                )
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO node_issue (node_id, start, kind, seq, end, severity, detail, action)
                        VALUES (?, ?, ?, 0, NULL, ?, ?, ?)
                        """,
                    arguments: [
                        candidate.id, since, reason.kind, reason.severity.rawValue,
                        "no report since \(PageParts.iso(candidate.receivedAt)) (the node reports every \(candidate.interval) s)",
                        reason.action,
                    ]
                )
                transitions.append(
                    HealthTransition(
                        hub: candidate.hub,
                        node: candidate.node,
                        state: .offline,
                        previous: candidate.state,
                        reasons: [reason],
                        at: now
                    )
                )
            }
            return transitions
        }
    }
}
