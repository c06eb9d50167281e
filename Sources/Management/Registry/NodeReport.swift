import CacheNodeCore
import Foundation

/// What a running node tells its hub every interval: its health and recent issues, its traffic and disk use.
///
/// On the wire the state, reasons and issues sit beside `health`, the word older hubs read (`ok`, `degraded`, `down`);
/// a report of an older node, with only that word, reads as the state it names with one reason that says so.
package struct NodeReport: Equatable, Sendable, Codable {
    package var node: String
    package var version: String
    package var uptimeSeconds: Int
    package var health: NodeHealth
    /// The node's open issues and those that ended lately, newest last.
    package var issues: [NodeIssue]
    package var bytesFromCache: Int64
    package var bytesFromOrigin: Int64
    package var hitRatio: Double
    package var diskUsedBytes: [String: Int64]
    package var peakEgressBitsPerSecond: Double
    package var intervalSeconds: Int
    /// The TLS listener and its certificate (subject, names, expiry); `nil` without HTTPS, or from older nodes.
    package var https: HTTPSStatus?

    package init(
        node: String,
        version: String,
        uptimeSeconds: Int,
        health: NodeHealth,
        issues: [NodeIssue] = [],
        bytesFromCache: Int64,
        bytesFromOrigin: Int64,
        hitRatio: Double,
        diskUsedBytes: [String: Int64],
        peakEgressBitsPerSecond: Double,
        intervalSeconds: Int,
        https: HTTPSStatus? = nil
    ) {
        self.node = node
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.health = health
        self.issues = issues
        self.bytesFromCache = bytesFromCache
        self.bytesFromOrigin = bytesFromOrigin
        self.hitRatio = hitRatio
        self.diskUsedBytes = diskUsedBytes
        self.peakEgressBitsPerSecond = peakEgressBitsPerSecond
        self.intervalSeconds = intervalSeconds
        self.https = https
    }

    /// At most this many issues travel in a report: the open ones, then the newest that ended.
    package static let issueLimit = 20

    enum CodingKeys: String, CodingKey {
        case node, version, health, reasons, issues, https
        case state
        case stateSince = "state_since"
        case uptimeSeconds = "uptime_s"
        case bytesFromCache = "bytes_from_cache"
        case bytesFromOrigin = "bytes_from_origin"
        case hitRatio = "hit_ratio"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
        case intervalSeconds = "interval_s"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        node = try container.decode(String.self, forKey: .node)
        version = try container.decode(String.self, forKey: .version)
        uptimeSeconds = try container.decode(Int.self, forKey: .uptimeSeconds)
        bytesFromCache = try container.decode(Int64.self, forKey: .bytesFromCache)
        bytesFromOrigin = try container.decode(Int64.self, forKey: .bytesFromOrigin)
        hitRatio = try container.decode(Double.self, forKey: .hitRatio)
        diskUsedBytes = try container.decode([String: Int64].self, forKey: .diskUsedBytes)
        peakEgressBitsPerSecond = try container.decode(Double.self, forKey: .peakEgressBitsPerSecond)
        intervalSeconds = try container.decode(Int.self, forKey: .intervalSeconds)
        issues = try container.decodeIfPresent([NodeIssue].self, forKey: .issues) ?? []
        https = try container.decodeIfPresent(HTTPSStatus.self, forKey: .https)
        if let state = try container.decodeIfPresent(HealthState.self, forKey: .state) {
            health = NodeHealth(
                state: state,
                reasons: try container.decodeIfPresent([HealthReason].self, forKey: .reasons) ?? [],
                since: try container.decodeIfPresent(Date.self, forKey: .stateSince) ?? .distantPast
            )
        } else {
            health = Self.legacyHealth(try container.decodeIfPresent(String.self, forKey: .health) ?? "ok")
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(node, forKey: .node)
        try container.encode(version, forKey: .version)
        try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try container.encode(Self.legacyWord(health.state), forKey: .health)
        try container.encode(health.state, forKey: .state)
        try container.encode(health.since, forKey: .stateSince)
        try container.encode(health.reasons, forKey: .reasons)
        try container.encode(issues, forKey: .issues)
        try container.encode(bytesFromCache, forKey: .bytesFromCache)
        try container.encode(bytesFromOrigin, forKey: .bytesFromOrigin)
        try container.encode(hitRatio, forKey: .hitRatio)
        try container.encode(diskUsedBytes, forKey: .diskUsedBytes)
        try container.encode(peakEgressBitsPerSecond, forKey: .peakEgressBitsPerSecond)
        try container.encode(intervalSeconds, forKey: .intervalSeconds)
        try container.encodeIfPresent(https, forKey: .https)
    }

    /// The word older hubs show for a state.
    static func legacyWord(_ state: HealthState) -> String {
        switch state {
        case .serving: "ok"
        case .degraded: "degraded"
        case .failing: "down"
        }
    }

    /// An older node's `health` word as a state with one reason; the times are unknown (`distantPast`: the registry
    /// puts its own).
    static func legacyHealth(_ word: String) -> NodeHealth {
        let since = Date.distantPast
        switch word {
        case "degraded":
            return NodeHealth(
                state: .degraded,
                reasons: [
                    HealthReason(
                        kind: "drive_not_writable",
                        severity: .degraded,
                        detail: "a cache drive takes no new blocks (the node's version gives no details)",
                        action: "free space on the node's drives or make them writable; update the node to see which",
                        since: since
                    )
                ],
                since: since
            )
        case "down":
            return NodeHealth(state: .failing, reasons: [.engineNotAnswering(since: since)], since: since)
        default:
            return NodeHealth(state: .serving, reasons: [], since: since)
        }
    }
}

extension NodeReport {
    /// The report as the hub takes it: a report that arrived shows the hub can be reached, so a `hub_unreachable`
    /// reason (left from the node's last failed try) goes, and the state is that of the reasons left.
    package func received() -> NodeReport {
        guard health.reasons.contains(where: { $0.kind == HealthReason.hubUnreachableKind }) else { return self }
        var report = self
        report.health.reasons.removeAll { $0.kind == HealthReason.hubUnreachableKind }
        let state = report.health.reasons.map(\.severity).max() ?? .serving
        if state != health.state {
            report.health = NodeHealth(state: state, reasons: report.health.reasons, since: .distantPast)
        }
        return report
    }
}

extension HealthReason {
    /// The kind of the reason a node gives when its last report did not reach the hub.
    package static let hubUnreachableKind = "hub_unreachable"

    /// The node's reporter runs, but its engine does not answer `/status`.
    package static func engineNotAnswering(since: Date) -> HealthReason {
        HealthReason(
            kind: "engine_not_answering",
            severity: .failing,
            detail: "the engine does not answer",
            action: "check the engine's service on the node (systemctl status cachenode) and its log",
            since: since
        )
    }
}
