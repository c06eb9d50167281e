import Foundation

/// The engine's `/status` document: what `cachenode status` shows and the hub reporter sends.
package struct EngineStatus: Codable, Equatable, Sendable {
    /// One cache drive's use.
    package struct Drive: Codable, Equatable, Sendable {
        package var path: String
        package var capacityBytes: Int64
        package var usedBytes: Int64
        package var objects: Int
        /// False after a write failed (disk full, read-only): the drive serves but stores nothing new.
        package var writable: Bool
        /// Bytes free on the drive's file system; `nil` when unknown.
        package var fileSystemFreeBytes: Int64?

        package init(
            path: String,
            capacityBytes: Int64,
            usedBytes: Int64,
            objects: Int,
            writable: Bool,
            fileSystemFreeBytes: Int64? = nil
        ) {
            self.path = path
            self.capacityBytes = capacityBytes
            self.usedBytes = usedBytes
            self.objects = objects
            self.writable = writable
            self.fileSystemFreeBytes = fileSystemFreeBytes
        }

        enum CodingKeys: String, CodingKey {
            case path, objects, writable
            case capacityBytes = "capacity_bytes"
            case usedBytes = "used_bytes"
            case fileSystemFreeBytes = "file_system_free_bytes"
        }
    }

    package var version: String
    package var node: String
    package var pid: Int32
    package var startedAt: Date
    package var uptimeSeconds: Int
    package var listen: String
    package var admin: String
    package var blockSizeBytes: Int
    package var objects: Int
    package var requests: Int64
    package var hits: Int64
    package var misses: Int64
    package var partials: Int64
    /// Bytes served from cache over all bytes served; 0 before the first byte.
    package var hitRatio: Double
    package var bytesFromCache: Int64
    package var bytesFromOrigin: Int64
    package var originErrors: Int64
    /// Answers from stored objects past their freshness while their origin could not be reached (absent from
    /// engines before it was counted).
    package var staleServed: Int64?
    /// Conditional requests for stale stored objects.
    package var revalidations: Int64?
    package var connections: Int
    package var peakEgressBitsPerSecond: Double
    package var drives: [Drive]
    /// Serving, degraded or failing, with the reasons.
    package var health: NodeHealth
    /// The node's recent problems, the newest last.
    package var issues: [NodeIssue]
    /// The TLS listener and its certificate; absent when `engine.https` is not set (or from older engines).
    package var https: HTTPSStatus?

    package init(
        version: String,
        node: String,
        pid: Int32,
        startedAt: Date,
        uptimeSeconds: Int,
        listen: String,
        admin: String,
        blockSizeBytes: Int,
        objects: Int,
        requests: Int64,
        hits: Int64,
        misses: Int64,
        partials: Int64,
        hitRatio: Double,
        bytesFromCache: Int64,
        bytesFromOrigin: Int64,
        originErrors: Int64,
        staleServed: Int64? = nil,
        revalidations: Int64? = nil,
        connections: Int,
        peakEgressBitsPerSecond: Double,
        drives: [Drive],
        health: NodeHealth = NodeHealth(state: .serving, reasons: [], since: Date(timeIntervalSince1970: 0)),
        issues: [NodeIssue] = [],
        https: HTTPSStatus? = nil
    ) {
        self.version = version
        self.node = node
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.listen = listen
        self.admin = admin
        self.blockSizeBytes = blockSizeBytes
        self.objects = objects
        self.requests = requests
        self.hits = hits
        self.misses = misses
        self.partials = partials
        self.hitRatio = hitRatio
        self.bytesFromCache = bytesFromCache
        self.bytesFromOrigin = bytesFromOrigin
        self.originErrors = originErrors
        self.staleServed = staleServed
        self.revalidations = revalidations
        self.connections = connections
        self.peakEgressBitsPerSecond = peakEgressBitsPerSecond
        self.drives = drives
        self.health = health
        self.issues = issues
        self.https = https
    }

    enum CodingKeys: String, CodingKey {
        case version, node, pid, listen, admin, objects, requests, hits, misses, partials, connections, drives, health,
            issues, revalidations, https
        case startedAt = "started_at"
        case uptimeSeconds = "uptime_s"
        case blockSizeBytes = "block_size_bytes"
        case hitRatio = "hit_ratio"
        case bytesFromCache = "bytes_from_cache"
        case bytesFromOrigin = "bytes_from_origin"
        case originErrors = "origin_errors"
        case staleServed = "stale_served"
        case peakEgressBitsPerSecond = "peak_egress_bps"
    }

    /// The encoder and decoder both ends use: snake_case keys, ISO 8601 dates.
    package static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }()

    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
