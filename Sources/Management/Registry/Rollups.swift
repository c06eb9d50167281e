import Foundation

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
            restarted =
                report.bytesFromCache < previous.fromCache || report.bytesFromOrigin < previous.fromOrigin
                || report.uptimeSeconds < previous.uptimeSeconds
        } else {
            restarted = report.uptimeSeconds <= report.intervalSeconds
        }
        if restarted {
            self.init(fromCache: max(0, report.bytesFromCache), fromOrigin: max(0, report.bytesFromOrigin))
        } else if let previous {
            self.init(
                fromCache: report.bytesFromCache - previous.fromCache,
                fromOrigin: report.bytesFromOrigin - previous.fromOrigin
            )
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
