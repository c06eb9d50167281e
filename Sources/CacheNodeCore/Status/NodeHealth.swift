import Foundation

/// How well a node does its job: one vocabulary for `/health`, the status page, `cachenode status`, `/metrics`, the
/// report to the hub and the fleet page.
package enum HealthState: String, Codable, Sendable, CaseIterable, Comparable {
    /// Everything the node needs works.
    case serving
    /// The node serves, but something needs attention (some origin fetches fail, a drive, the hub).
    case degraded
    /// Clients cannot be served: no origin fetch succeeds, or no drive takes blocks.
    case failing

    /// 0 serving, 1 degraded, 2 failing: the value of the `cachenode_health_state` metric.
    package var level: Int {
        switch self {
        case .serving: 0
        case .degraded: 1
        case .failing: 2
        }
    }

    package static func < (lhs: HealthState, rhs: HealthState) -> Bool { lhs.level < rhs.level }
}

/// One reason a node is not simply serving: a problem in words, what to do about it, and since when.
package struct HealthReason: Codable, Equatable, Sendable {
    /// A short fixed name (`origin_failing`, `origin_errors`, `drive_not_writable`, `drive_nearly_full`,
    /// `no_writable_drive`, `hub_unreachable`): what alerts and issue histories group by.
    package var kind: String
    /// The state this reason puts the node in.
    package var severity: HealthState
    /// What is wrong, with the figures that show it.
    package var detail: String
    /// What an administrator can do about it.
    package var action: String
    /// When this problem was first seen (it has lasted since).
    package var since: Date

    package init(kind: String, severity: HealthState, detail: String, action: String, since: Date) {
        self.kind = kind
        self.severity = severity
        self.detail = detail
        self.action = action
        self.since = since
    }
}

/// A node's state with its reasons, worst first, and when the state began.
package struct NodeHealth: Codable, Equatable, Sendable {
    package var state: HealthState
    package var reasons: [HealthReason]
    package var since: Date

    package init(state: HealthState, reasons: [HealthReason], since: Date) {
        self.state = state
        self.reasons = reasons
        self.since = since
    }

    /// The reasons as one line each: `detail (action)`.
    package var summary: String {
        reasons.isEmpty ? state.rawValue : reasons.map(\.detail).joined(separator: "; ")
    }
}

/// A problem over time, as the hub and the node keep them: it opens when a reason appears and ends when it goes.
package struct NodeIssue: Codable, Equatable, Sendable {
    package var kind: String
    package var severity: HealthState
    package var detail: String
    package var action: String
    package var start: Date
    /// `nil` while the problem lasts.
    package var end: Date?

    package init(kind: String, severity: HealthState, detail: String, action: String, start: Date, end: Date? = nil) {
        self.kind = kind
        self.severity = severity
        self.detail = detail
        self.action = action
        self.start = start
        self.end = end
    }

    package var isOpen: Bool { end == nil }
}

/// What the engine sees at one moment, the input of the health rules. Pure values: tests make them by hand.
package struct HealthInputs: Equatable, Sendable {
    /// Origin fetches in the recent window.
    package struct Origin: Equatable, Sendable {
        package var attempts: Int
        package var failures: Int
        /// Failures by bounded reason (`dns`, `connect`, `timeout`, ...), for the words.
        package var failuresByReason: [String: Int]
        /// The last failure in words (`origin unreachable: cannot resolve ...`).
        package var lastFailure: String?
        /// The length of the window the counts cover.
        package var windowSeconds: Int

        package init(
            attempts: Int = 0,
            failures: Int = 0,
            failuresByReason: [String: Int] = [:],
            lastFailure: String? = nil,
            windowSeconds: Int = 300
        ) {
            self.attempts = attempts
            self.failures = failures
            self.failuresByReason = failuresByReason
            self.lastFailure = lastFailure
            self.windowSeconds = windowSeconds
        }
    }

    package struct Drive: Equatable, Sendable {
        package var path: String
        package var writable: Bool
        /// Bytes the cache still expects to use on this drive (its size minus what it holds).
        package var remainingBytes: Int64
        /// Bytes free on the drive's file system; `nil` when unknown.
        package var fileSystemFreeBytes: Int64?

        package init(path: String, writable: Bool, remainingBytes: Int64, fileSystemFreeBytes: Int64?) {
            self.path = path
            self.writable = writable
            self.remainingBytes = remainingBytes
            self.fileSystemFreeBytes = fileSystemFreeBytes
        }
    }

    /// The hub link's last report, when the node is linked.
    package struct Hub: Equatable, Sendable {
        package var url: String
        /// The last report's error; `nil` when it went through.
        package var lastError: String?

        package init(url: String, lastError: String?) {
            self.url = url
            self.lastError = lastError
        }
    }

    package var origin: Origin
    package var drives: [Drive]
    package var hub: Hub?
    /// Further reasons from elsewhere (a certificate, ...), judged as they are.
    package var extra: [HealthReason]

    package init(origin: Origin = Origin(), drives: [Drive] = [], hub: Hub? = nil, extra: [HealthReason] = []) {
        self.origin = origin
        self.drives = drives
        self.hub = hub
        self.extra = extra
    }
}

/// The rules that turn what the engine sees into reasons. No clock of its own: `now` is given.
package enum HealthRules {
    /// At least this many fetches, none successful, in the window: the node fails its clients.
    package static let failingAttempts = 3

    /// The reasons for `inputs`, worst first; `since` is `now` (the tracker keeps the first time each was seen).
    package static func reasons(_ inputs: HealthInputs, now: Date) -> [HealthReason] {
        var reasons: [HealthReason] = []
        let origin = inputs.origin
        let minutes = max(1, origin.windowSeconds / 60)
        let window = minutes == 1 ? "the last minute" : "the last \(minutes) minutes"
        let causes = origin.failuresByReason.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let last = origin.lastFailure.map { "; last: \($0)" } ?? ""
        if origin.attempts >= failingAttempts && origin.failures >= origin.attempts {
            reasons.append(
                HealthReason(
                    kind: "origin_failing",
                    severity: .failing,
                    detail: "no origin fetch succeeded in \(window): \(origin.failures) of \(origin.attempts) failed "
                        + "(\(causes))\(last)",
                    action: "check the node's DNS servers, route and upstream proxy towards the CDN "
                        + "(cachenode check --network); clients fall back to the CDN meanwhile",
                    since: now
                )
            )
        } else if origin.failures > 0 && (origin.failures * 20 >= origin.attempts || origin.failures >= 5) {
            reasons.append(
                HealthReason(
                    kind: "origin_errors",
                    severity: .degraded,
                    detail:
                        "\(origin.failures) of \(origin.attempts) origin fetches failed in \(window) (\(causes))\(last)",
                    action: "see the engine's log for the origins that fail; clients retry them from the CDN",
                    since: now
                )
            )
        }
        let unwritable = inputs.drives.filter { !$0.writable }
        if !inputs.drives.isEmpty && unwritable.count == inputs.drives.count {
            reasons.append(
                HealthReason(
                    kind: "no_writable_drive",
                    severity: .failing,
                    detail: "no cache drive takes new blocks: \(unwritable.map(\.path).joined(separator: ", "))",
                    action: "free space on the drives or make them writable, then restart the engine",
                    since: now
                )
            )
        } else {
            for drive in unwritable {
                reasons.append(
                    HealthReason(
                        kind: "drive_not_writable",
                        severity: .degraded,
                        detail: "cache drive \(drive.path) takes no new blocks (a write failed: full or read-only)",
                        action: "free space on the drive or make it writable, then restart the engine",
                        since: now
                    )
                )
            }
        }
        for drive in inputs.drives where drive.writable {
            guard let free = drive.fileSystemFreeBytes, free < drive.remainingBytes else { continue }
            reasons.append(
                HealthReason(
                    kind: "drive_nearly_full",
                    severity: .degraded,
                    detail:
                        "the file system of cache drive \(drive.path) has \(ByteCount.format(free)) free, less than "
                        + "the \(ByteCount.format(drive.remainingBytes)) the cache may still use",
                    action: "free space on that file system or lower storage.drives[].size_gb (cachenode setup)",
                    since: now
                )
            )
        }
        if let hub = inputs.hub, let error = hub.lastError {
            reasons.append(
                HealthReason(
                    kind: "hub_unreachable",
                    severity: .degraded,
                    detail: "the hub at \(hub.url) cannot be reached: \(error)",
                    action: "check the hub service and the route to it; serving is not affected",
                    since: now
                )
            )
        }
        reasons += inputs.extra
        return reasons.enumerated().sorted { a, b in
            a.element.severity != b.element.severity ? a.element.severity > b.element.severity : a.offset < b.offset
        }.map(\.element)
    }
}

/// Keeps a node's health over time: the state and since when, each reason's first sighting, and the issue history.
///
/// A value type without I/O: `update` takes the inputs and the time and says whether the state changed, so the owner
/// can send a report at once and keep the history on disk.
package struct HealthTracker: Sendable {
    package private(set) var health: NodeHealth
    /// The newest last; at most `historyLimit`, open issues never dropped.
    package private(set) var issues: [NodeIssue]
    package var historyLimit = 200

    package init(now: Date, issues: [NodeIssue] = []) {
        health = NodeHealth(state: .serving, reasons: [], since: now)
        // Issues a previous run left open ended when it stopped.
        self.issues = issues.map { issue in
            var issue = issue
            if issue.end == nil { issue.end = now }
            return issue
        }
    }

    /// What changed in one update.
    package struct Change: Equatable, Sendable {
        package var previous: HealthState
        package var stateChanged: Bool
        /// Reasons appeared or went away (the issue history changed).
        package var issuesChanged: Bool
    }

    /// Judges `inputs` at `now`; returns what changed, or `nil` when nothing did but the figures in the words.
    @discardableResult
    package mutating func update(_ inputs: HealthInputs, now: Date) -> Change? {
        var reasons = HealthRules.reasons(inputs, now: now)
        for index in reasons.indices {
            if let seen = health.reasons.first(where: {
                $0.kind == reasons[index].kind && $0.detailKey == reasons[index].detailKey
            }) {
                reasons[index].since = seen.since
            }
        }
        let state = reasons.map(\.severity).max() ?? .serving
        let previous = health.state
        let oldKeys = Set(health.reasons.map(\.issueKey))
        let newKeys = Set(reasons.map(\.issueKey))
        for reason in reasons where !oldKeys.contains(reason.issueKey) {
            issues.append(
                NodeIssue(
                    kind: reason.kind,
                    severity: reason.severity,
                    detail: reason.detail,
                    action: reason.action,
                    start: now
                )
            )
        }
        for index in issues.indices where issues[index].end == nil {
            let key = issues[index].issueKey
            if !newKeys.contains(key) {
                issues[index].end = now
            } else if let reason = reasons.first(where: { $0.issueKey == key }) {
                issues[index].detail = reason.detail
            }
        }
        trim()
        let issuesChanged = oldKeys != newKeys
        health = NodeHealth(state: state, reasons: reasons, since: state == previous ? health.since : now)
        guard state != previous || issuesChanged else { return nil }
        return Change(previous: previous, stateChanged: state != previous, issuesChanged: issuesChanged)
    }

    private mutating func trim() {
        var excess = issues.count - historyLimit
        guard excess > 0 else { return }
        issues.removeAll { issue in
            guard excess > 0, issue.end != nil else { return false }
            excess -= 1
            return true
        }
    }
}

extension HealthReason {
    /// Reasons of one kind about different things (two drives) are different issues.
    var detailKey: String {
        switch kind {
        case "drive_not_writable", "drive_nearly_full":
            detail.split(separator: " ").first { $0.hasPrefix("/") }.map(String.init) ?? ""
        default: ""
        }
    }

    var issueKey: String { kind + "|" + detailKey }
}

extension NodeIssue {
    var issueKey: String {
        HealthReason(kind: kind, severity: severity, detail: detail, action: action, since: start).issueKey
    }
}
