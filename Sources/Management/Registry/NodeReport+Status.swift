import CacheNodeCore
import Foundation

extension NodeReport {
    /// The report for a node from its engine's `/status`; a `nil` status means the engine does not answer, and the
    /// node is failing for that reason.
    package init(node: String, version: String, status: EngineStatus?, intervalSeconds: Int, now: Date = Date()) {
        self.init(
            node: node,
            version: status?.version ?? version,
            uptimeSeconds: status?.uptimeSeconds ?? 0,
            health: status?.health
                ?? NodeHealth(state: .failing, reasons: [.engineNotAnswering(since: now)], since: now),
            issues: Self.recent(status?.issues ?? []),
            bytesFromCache: status?.bytesFromCache ?? 0,
            bytesFromOrigin: status?.bytesFromOrigin ?? 0,
            hitRatio: status?.hitRatio ?? 0,
            diskUsedBytes: Dictionary(status?.drives.map { ($0.path, $0.usedBytes) } ?? [], uniquingKeysWith: +),
            peakEgressBitsPerSecond: status?.peakEgressBitsPerSecond ?? 0,
            intervalSeconds: intervalSeconds,
            https: status?.https
        )
    }

    /// The issues a report carries: every open one, then the newest that ended, `issueLimit` in all, in their order.
    static func recent(_ issues: [NodeIssue]) -> [NodeIssue] {
        guard issues.count > issueLimit else { return issues }
        let open = issues.indices.filter { issues[$0].isOpen }.suffix(issueLimit)
        let ended = issues.indices.filter { !issues[$0].isOpen }
            .sorted { (issues[$0].end ?? .distantPast) > (issues[$1].end ?? .distantPast) }
            .prefix(issueLimit - open.count)
        return Set(open).union(ended).sorted().map { issues[$0] }
    }
}
