import CacheNodeCore
import Foundation

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
    /// When the node's reported state began as the hub saw it: an offline spell starts it again.
    package var stateSince: Date?
}

/// A node's state as the fleet view shows it: its reported health, or what the hub sees of it.
package enum NodeState: String, Sendable, Codable, CaseIterable {
    case serving
    case degraded
    case failing
    /// Silent for three report intervals.
    case offline
    /// Created but never reported.
    case pending

    package init(_ health: HealthState) {
        switch health {
        case .serving: self = .serving
        case .degraded: self = .degraded
        case .failing: self = .failing
        }
    }

    /// Trouble first: failing, offline, degraded, pending, serving.
    package var rank: Int {
        switch self {
        case .failing: 0
        case .offline: 1
        case .degraded: 2
        case .pending: 3
        case .serving: 4
        }
    }

    /// Whether the node needs someone's attention.
    package var isTrouble: Bool { rank < NodeState.pending.rank }
}

extension NodeRecord {
    /// The reported health state, or offline after three intervals of silence.
    package func state(now: Date, defaultInterval: Int = 60) -> NodeState {
        guard lastReportAt != nil else { return .pending }
        if let offlineSince = offlineSince(defaultInterval: defaultInterval), now > offlineSince { return .offline }
        return NodeState(lastReport?.health.state ?? .serving)
    }

    /// When the node counts as offline if it stays silent: three intervals after its last report.
    package func offlineSince(defaultInterval: Int = 60) -> Date? {
        lastReportAt.map { $0.addingTimeInterval(3 * Double(lastReport?.intervalSeconds ?? defaultInterval)) }
    }

    /// The reasons for the node's state at `now`: the reported ones, or why the hub thinks it offline.
    package func reasons(now: Date) -> [HealthReason] {
        switch state(now: now) {
        case .pending: return []
        case .offline:
            let since = offlineSince() ?? now
            let silent = Int(now.timeIntervalSince(lastReportAt ?? now))
            return [
                .offline(
                    since: since,
                    silentSeconds: silent,
                    intervalSeconds: lastReport?.intervalSeconds ?? 60
                )
            ]
        default: return lastReport?.health.reasons ?? []
        }
    }
}

extension HealthReason {
    /// The hub has heard nothing from a node for three report intervals or more.
    package static func offline(since: Date, silentSeconds: Int, intervalSeconds: Int) -> HealthReason {
        HealthReason(
            kind: "offline",
            severity: .failing,
            detail:
                "no report for \(PageParts.duration(max(0, silentSeconds))) (the node reports every \(intervalSeconds) s)",
            action: "check that the node is running and reaches the hub: cachenode status on the node",
            since: since
        )
    }
}
