import CacheNodeCore
import Foundation
import Testing

struct NodeHealthTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func origin(_ attempts: Int, _ failures: Int, reason: String = "dns") -> HealthInputs.Origin {
        HealthInputs.Origin(
            attempts: attempts,
            failures: failures,
            failuresByReason: failures > 0 ? [reason: failures] : [:],
            lastFailure: failures > 0 ? "origin unreachable: cannot resolve example.test" : nil
        )
    }

    static func drive(_ path: String, writable: Bool = true, remaining: Int64 = 0, free: Int64? = nil)
        -> HealthInputs.Drive
    {
        .init(path: path, writable: writable, remainingBytes: remaining, fileSystemFreeBytes: free)
    }

    @Test(arguments: [
        // attempts, failures, the state
        (0, 0, HealthState.serving),
        (100, 0, .serving),
        (100, 1, .serving),  // one failure in a hundred is noise
        (100, 5, .degraded),
        (10, 1, .degraded),
        (2, 2, .degraded),  // too few tries to call the node failing
        (3, 3, .failing),
        (50, 50, .failing),
        (50, 49, .degraded),  // one fetch went through: the origin can be reached
    ])
    func originFetchesDecideTheState(attempts: Int, failures: Int, state: HealthState) {
        let reasons = HealthRules.reasons(HealthInputs(origin: Self.origin(attempts, failures)), now: Self.t0)
        #expect((reasons.map(\.severity).max() ?? .serving) == state)
    }

    @Test func aFailingOriginSaysWhyAndWhatToDo() throws {
        let reasons = HealthRules.reasons(HealthInputs(origin: Self.origin(4, 4)), now: Self.t0)
        let reason = try #require(reasons.first)
        #expect(reason.kind == "origin_failing")
        #expect(reason.detail.contains("4 of 4 failed (dns 4)"))
        #expect(reason.detail.contains("cannot resolve example.test"))
        #expect(reason.action.contains("DNS"))
    }

    @Test func drives() {
        let one = HealthRules.reasons(
            HealthInputs(drives: [Self.drive("/a", writable: false), Self.drive("/b")]),
            now: Self.t0
        )
        #expect(
            one.map(\.kind) == ["drive_not_writable"] && one[0].severity == .degraded && one[0].detail.contains("/a")
        )
        let all = HealthRules.reasons(
            HealthInputs(drives: [Self.drive("/a", writable: false), Self.drive("/b", writable: false)]),
            now: Self.t0
        )
        #expect(all.map(\.kind) == ["no_writable_drive"] && all[0].severity == .failing)
        let full = HealthRules.reasons(
            HealthInputs(drives: [Self.drive("/a", remaining: 10 << 30, free: 1 << 30)]),
            now: Self.t0
        )
        #expect(full.map(\.kind) == ["drive_nearly_full"] && full[0].severity == .degraded)
        let roomy = HealthRules.reasons(
            HealthInputs(drives: [Self.drive("/a", remaining: 1 << 30, free: 10 << 30)]),
            now: Self.t0
        )
        #expect(roomy.isEmpty)
    }

    @Test func anUnreachableHubDegradesButAFailureComesFirst() {
        let reasons = HealthRules.reasons(
            HealthInputs(
                origin: Self.origin(3, 3),
                hub: .init(url: "https://hub:7000", lastError: "connection refused")
            ),
            now: Self.t0
        )
        #expect(reasons.map(\.kind) == ["origin_failing", "hub_unreachable"])
        #expect(reasons[1].severity == .degraded && reasons[1].detail.contains("https://hub:7000"))
        let reported = HealthRules.reasons(
            HealthInputs(hub: .init(url: "https://hub:7000", lastError: nil)),
            now: Self.t0
        )
        #expect(reported.isEmpty)
    }

    @Test func theTrackerKeepsSinceAndOpensAndEndsIssues() throws {
        var tracker = HealthTracker(now: Self.t0)
        #expect(tracker.update(HealthInputs(), now: Self.t0) == nil)
        let failing = HealthInputs(origin: Self.origin(3, 3))
        let changed = tracker.update(failing, now: Self.t0 + 10)
        let change = try #require(changed)
        #expect(change.previous == .serving && change.stateChanged && change.issuesChanged)
        #expect(tracker.health.state == .failing && tracker.health.since == Self.t0 + 10)
        // The same problem later, with other figures: no change, and it started when it was first seen.
        #expect(tracker.update(HealthInputs(origin: Self.origin(9, 9)), now: Self.t0 + 20) == nil)
        #expect(tracker.health.reasons[0].since == Self.t0 + 10 && tracker.health.reasons[0].detail.contains("9 of 9"))
        #expect(tracker.issues.count == 1 && tracker.issues[0].isOpen && tracker.issues[0].detail.contains("9 of 9"))
        // Recovered.
        let recoveredChange = tracker.update(HealthInputs(), now: Self.t0 + 30)
        let recovered = try #require(recoveredChange)
        #expect(
            recovered.previous == .failing && tracker.health.state == .serving && tracker.health.since == Self.t0 + 30
        )
        #expect(tracker.issues.count == 1 && tracker.issues[0].end == Self.t0 + 30)
    }

    @Test func twoDrivesAreTwoIssues() {
        var tracker = HealthTracker(now: Self.t0)
        tracker.update(
            HealthInputs(drives: [Self.drive("/a", writable: false), Self.drive("/b"), Self.drive("/c")]),
            now: Self.t0
        )
        tracker.update(
            HealthInputs(drives: [
                Self.drive("/a", writable: false), Self.drive("/b", writable: false), Self.drive("/c"),
            ]),
            now: Self.t0 + 1
        )
        #expect(tracker.issues.map(\.start) == [Self.t0, Self.t0 + 1])
        #expect(tracker.issues.allSatisfy { $0.isOpen })
    }

    @Test func issuesLeftOpenByAnEarlierRunEndWhenItStopped() {
        let open = NodeIssue(kind: "origin_failing", severity: .failing, detail: "d", action: "a", start: Self.t0)
        let tracker = HealthTracker(now: Self.t0 + 100, issues: [open])
        #expect(tracker.issues[0].end == Self.t0 + 100)
    }

    @Test func theHistoryIsBoundedAndKeepsOpenIssues() {
        var tracker = HealthTracker(now: Self.t0)
        tracker.historyLimit = 5
        for step in 0..<20 {
            let failing = step % 2 == 0
            tracker.update(
                HealthInputs(origin: failing ? Self.origin(3, 3) : Self.origin(0, 0)),
                now: Self.t0 + Double(step)
            )
        }
        tracker.update(HealthInputs(origin: Self.origin(3, 3)), now: Self.t0 + 100)
        #expect(tracker.issues.count == 5)
        #expect(tracker.issues.last?.isOpen == true && tracker.issues.last?.start == Self.t0 + 100)
    }

    @Test func theOriginWindowForgetsOldFetches() {
        var window = OriginWindow(windowSeconds: 60)
        for second in 0..<3 { window.failed(reason: "dns", detail: "cannot resolve", at: Self.t0 + Double(second)) }
        window.succeeded(at: Self.t0 + 3)
        let now = window.inputs(at: Self.t0 + 5)
        #expect(now.attempts == 4 && now.failures == 3 && now.failuresByReason == ["dns": 3])
        #expect(now.lastFailure == "cannot resolve")
        let later = window.inputs(at: Self.t0 + 200)
        #expect(later.attempts == 0 && later.failures == 0 && later.lastFailure == nil)
    }
}
