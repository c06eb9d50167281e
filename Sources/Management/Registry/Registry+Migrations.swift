import Foundation
import GRDB

extension Registry {
    /// The schema's history: v1 nodes and raw reports, v2 the latest report and rollups, v3 health and issues.
    static var migrator: DatabaseMigrator {
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
            let reports = try Row.fetchCursor(
                db,
                sql: "SELECT node_id, received_at, payload FROM report ORDER BY node_id, received_at"
            )
            while let row = try reports.next() {
                let payload: String = row["payload"]
                guard let report = try? JSONDecoder().decode(NodeReport.self, from: Data(payload.utf8)) else {
                    continue
                }
                let node: Int64 = row["node_id"]
                let previous = try Row.fetchOne(
                    db,
                    sql: "SELECT from_cache, from_origin, uptime_s FROM node_latest WHERE node_id = ?",
                    arguments: [node]
                )
                try Registry.foldTraffic(
                    db,
                    node: node,
                    report,
                    payload: payload,
                    previous: previous,
                    now: row["received_at"],
                    schema: .v2
                )
            }
            try db.execute(sql: "DROP TABLE report")
        }
        migrator.registerMigration("v3") { db in
            // Each node's health beside its latest report (the reasons travel in the report), and the issues of the
            // last 90 days: keyed by node first, so a node's history is one range; the ended ones by their end, so
            // pruning is one lookup when there is nothing to prune.
            try db.execute(
                sql: """
                    ALTER TABLE node_latest ADD COLUMN state TEXT NOT NULL DEFAULT 'serving';
                    ALTER TABLE node_latest ADD COLUMN state_since DATETIME;
                    ALTER TABLE node_latest ADD COLUMN interval_s INTEGER NOT NULL DEFAULT 60;
                    ALTER TABLE node_latest ADD COLUMN issues_digest INTEGER NOT NULL DEFAULT 0;
                    UPDATE node_latest SET
                        state = CASE json_extract(payload, '$.health') WHEN 'degraded' THEN 'degraded'
                            WHEN 'down' THEN 'failing' ELSE 'serving' END,
                        state_since = received_at,
                        interval_s = COALESCE(json_extract(payload, '$.interval_s'), 60);
                    CREATE TABLE node_issue (
                        node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
                        start DATETIME NOT NULL,
                        kind TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        end DATETIME,
                        severity TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        action TEXT NOT NULL,
                        PRIMARY KEY (node_id, start, kind, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX node_issue_ended ON node_issue(end) WHERE end IS NOT NULL;
                    CREATE INDEX node_issue_open ON node_issue(node_id) WHERE end IS NULL;
                    """
            )
        }
        return migrator
    }
}
