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
        case let .nodeExists(node, hub):
            "hub \(hub) already has a node named \(node); node names are unique in their hub"
        case let .noSuchNode(node, hub): "hub \(hub) has no node named \(node)"
        case .badKey: "the enrolment key is not valid (each key works once)"
        case .badToken: "the node token is not valid"
        case .storage(let problem): "the registry: \(problem)"
        }
    }
}

/// The hubs, their nodes and the nodes' traffic, in an SQLite database (GRDB, write-ahead log).
///
/// Node names are unique in their hub (ignoring case) and never change; deleting a node is final.
/// Enrolment keys and node tokens are stored only as SHA-256 digests. Of the reports, the registry keeps each node's
/// latest and rolls them up per minute for a day and per hour for 90 days.
package final class Registry: Sendable {
    let database: DatabasePool
    /// The fleet's sums of periods that take no more reports, so a view reads only the newest rows.
    let settled = Mutex<[RollupResolution: SettledSums]>([:])

    struct SettledSums {
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

    // MARK: Hubs

    @discardableResult
    package func createHub(_ name: String, now: Date = Date()) throws(RegistryError) -> HubRecord {
        if let problem = NameRules.hubNameProblem(name) {
            throw .invalidName("hub name: \(problem) (\(NameRules.hubNameRule))")
        }
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
            if try Row.fetchOne(db, sql: "SELECT 1 FROM node WHERE hub_id = ? AND name = ?", arguments: [hubID, name])
                != nil
            {
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
                    node_latest.payload, node_latest.received_at, node_latest.saved, node_latest.state_since
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
                    bytesSaved: row["saved"],
                    stateSince: row["state_since"]
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

    // MARK: Plumbing

    static func hubID(_ db: Database, _ hub: String) throws -> Int64 {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM hub WHERE name = ?", arguments: [hub]) else {
            throw RegistryError.noSuchHub(hub)
        }
        return id
    }

    func write<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do {
            return try database.write(body)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
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
