import CacheNodeCore
import Crypto
import Foundation
import GRDB

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

/// The hubs, their nodes and the nodes' reports, in an SQLite database (GRDB).
///
/// Node names are unique in their hub (ignoring case) and never change; deleting a node is final.
/// Enrolment keys and node tokens are stored only as SHA-256 digests.
package final class Registry: Sendable {
    private let database: DatabaseQueue

    package init(path: String) throws(RegistryError) {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            database = try DatabaseQueue(path: path, configuration: configuration)
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
                SELECT node.id, node.name, hub.name AS hub, node.created_at, node.token_digest,
                    (SELECT payload FROM report WHERE node_id = node.id ORDER BY received_at DESC LIMIT 1) AS payload,
                    (SELECT received_at FROM report WHERE node_id = node.id ORDER BY received_at DESC LIMIT 1) AS received
                FROM node JOIN hub ON hub.id = node.hub_id
                """
            var arguments: StatementArguments = []
            if let hub {
                _ = try Self.hubID(db, hub)
                sql += " WHERE hub.name = ?"
                arguments = [hub]
            }
            sql += " ORDER BY hub.name, node.name"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let payload: String? = row["payload"]
                return NodeRecord(
                    name: row["name"],
                    hub: row["hub"],
                    createdAt: row["created_at"],
                    enrolled: (row["token_digest"] as String?) != nil,
                    lastReport: payload.flatMap { try? JSONDecoder().decode(NodeReport.self, from: Data($0.utf8)) },
                    lastReportAt: row["received"]
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
    package func record(_ report: NodeReport, token: String, now: Date = Date()) throws(RegistryError) {
        let payload = String(decoding: (try? JSONEncoder().encode(report)) ?? Data(), as: UTF8.self)
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, name FROM node WHERE token_digest = ?", arguments: [Self.digest(token)])
            else { throw RegistryError.badToken }
            guard (row["name"] as String).lowercased() == report.node.lowercased() else { throw RegistryError.badToken }
            let id: Int64 = row["id"]
            try db.execute(sql: "INSERT INTO report (node_id, received_at, payload) VALUES (?, ?, ?)", arguments: [id, now, payload])
            // Keep a day of history at the default interval.
            try db.execute(
                sql: """
                    DELETE FROM report WHERE node_id = ? AND rowid NOT IN
                    (SELECT rowid FROM report WHERE node_id = ? ORDER BY received_at DESC LIMIT 1440)
                    """,
                arguments: [id, id]
            )
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
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
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
