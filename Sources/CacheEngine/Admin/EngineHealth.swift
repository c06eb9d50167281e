import CacheNodeCore
import Foundation
import Synchronization

/// The engine's health: origin outcomes, drives and the hub link go in, `NodeHealth` and the issue history come out.
///
/// The decisions are `HealthTracker`'s (a value type); this class keeps it behind a lock, and outside the lock tells the
/// observer (the hub reporter) of a change of state and writes the issue history to `<state>/issues.json`.
package final class EngineHealth: Sendable {
    struct State {
        var window: OriginWindow
        var tracker: HealthTracker
        var drives: [HealthInputs.Drive] = []
        var hub: HealthInputs.Hub?
        var extra: [HealthReason] = []
        var observer: (@Sendable (NodeHealth) -> Void)?
        var version = 0

        var inputs: HealthInputs { HealthInputs(drives: drives, hub: hub, extra: extra) }
    }

    private let state: Mutex<State>
    private let issuesPath: String?
    /// The time now; tests pass a clock of their own.
    private let now: @Sendable () -> Date
    /// The version of the issue history last written, so an older snapshot never overwrites a newer one.
    private let written = Mutex(0)

    /// `windowSeconds`: how far back origin fetches count (five minutes; tests use less).
    package init(issuesPath: String?, windowSeconds: Int = 300, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.issuesPath = issuesPath
        self.now = clock
        let now = clock()
        let saved =
            issuesPath.flatMap { FileManager.default.contents(atPath: $0) }
            .flatMap { try? EngineStatus.decoder.decode([NodeIssue].self, from: $0) } ?? []
        state = Mutex(
            State(window: OriginWindow(windowSeconds: windowSeconds), tracker: HealthTracker(now: now, issues: saved))
        )
    }

    /// Called on every change of state (not of the words), outside any lock.
    package func setObserver(_ observer: (@Sendable (NodeHealth) -> Void)?) {
        state.withLock { $0.observer = observer }
    }

    func originSucceeded() {
        update { state, now in state.window.succeeded(at: now) }
    }

    func originFailed(_ failure: OriginFailure) {
        update { state, now in
            state.window.failed(reason: failure.shortDescription, detail: failure.description, at: now)
        }
    }

    func drivesObserved(_ drives: [HealthInputs.Drive]) {
        update { state, _ in state.drives = drives }
    }

    /// The outcome of the last report to the hub; `url` nil when the node is not linked.
    func hubOutcome(url: String?, error: String?) {
        update { state, _ in state.hub = url.map { HealthInputs.Hub(url: $0, lastError: error) } }
    }

    /// Reasons from other parts of the node (a certificate), judged with the rest.
    package func setExtraReasons(_ reasons: [HealthReason]) {
        update { state, _ in state.extra = reasons }
    }

    /// The health now (the window moves on even without new fetches) and the issue history.
    package func current() -> (health: NodeHealth, issues: [NodeIssue]) {
        update { _, _ in }
    }

    @discardableResult
    private func update(_ change: (inout State, Date) -> Void) -> (health: NodeHealth, issues: [NodeIssue]) {
        let now = self.now()
        let (result, event, observer, version) = state.withLock { state in
            change(&state, now)
            var inputs = state.inputs
            inputs.origin = state.window.inputs(at: now)
            let event = state.tracker.update(inputs, now: now)
            if event?.issuesChanged == true { state.version += 1 }
            return ((health: state.tracker.health, issues: state.tracker.issues), event, state.observer, state.version)
        }
        if let event {
            if event.issuesChanged { persist(result.issues, version: version) }
            if event.stateChanged { observer?(result.health) }
        }
        return result
    }

    private func persist(_ issues: [NodeIssue], version: Int) {
        guard let issuesPath, let data = try? EngineStatus.encoder.encode(issues) else { return }
        written.withLock { last in
            guard version > last else { return }
            last = version
            try? data.write(to: URL(fileURLWithPath: issuesPath), options: .atomic)
        }
    }
}
