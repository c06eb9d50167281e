import CacheNodeCore
import Foundation
import Logging
import Synchronization

/// How a node reaches its hub: written by `cachenode setup` and `cachenode node enrol`, read by `cachenode serve` at
/// start and on every reload (SIGHUP).
///
/// A hub service elsewhere is reached at `url`; the hub in the registry on this machine is written to directly
/// (`registry`, the path of its `registry.sqlite`). Either way the report carries the node's token.
package struct HubLink: Codable, Equatable, Sendable {
    package var url: String?
    package var registry: String?
    package var hub: String
    package var node: String
    package var token: String
    package var intervalSeconds: Int
    /// How the hub's certificate is trusted; absent in links to a hub on loopback over plain HTTP or on this machine.
    package var trust: HubTrust?

    package init(
        url: String,
        hub: String,
        node: String,
        token: String,
        intervalSeconds: Int = 60,
        trust: HubTrust? = nil
    ) {
        self.url = url
        self.hub = hub
        self.node = node
        self.token = token
        self.intervalSeconds = intervalSeconds
        self.trust = trust
    }

    /// A link to a hub in the registry on this machine, at `registry`.
    package init(registry: String, hub: String, node: String, token: String, intervalSeconds: Int = 60) {
        self.registry = registry
        self.hub = hub
        self.node = node
        self.token = token
        self.intervalSeconds = intervalSeconds
    }

    enum CodingKeys: String, CodingKey {
        case url, registry, hub, node, token, trust
        case intervalSeconds = "interval_s"
    }

    /// Where reports go, as people read it: the service's URL, or the registry on this machine.
    package var destination: String { url ?? "this machine (\(registry ?? "registry"))" }

    package static func fileName(in state: String) -> String { state + "/hub-link.json" }
    package static func statusFileName(in state: String) -> String { state + "/hub-link.status.json" }

    /// The link in `state`, `nil` when there is none; throws when the file is there but unreadable.
    package static func read(state: String) throws -> HubLink? {
        guard let data = FileManager.default.contents(atPath: fileName(in: state)) else { return nil }
        return try HubJSON.decoder.decode(HubLink.self, from: data)
    }
}

/// The outcome of the reports so far, for `cachenode status`: written by the reporter after each attempt.
package struct HubLinkStatus: Codable, Equatable, Sendable {
    /// The link the reports went over (`HubLink.destination`, hub and node): a status of an older link is stale.
    package var destination: String?
    package var hub: String?
    package var node: String?
    package var lastAttempt: Date
    package var lastSuccess: Date?
    /// The last attempt's error; `nil` when it went through.
    package var error: String?
    /// The most recent error of any attempt, kept after later successes, and when it happened.
    package var lastError: String?
    package var lastErrorAt: Date?

    package init(
        destination: String? = nil,
        hub: String? = nil,
        node: String? = nil,
        lastAttempt: Date,
        lastSuccess: Date? = nil,
        error: String? = nil,
        lastError: String? = nil,
        lastErrorAt: Date? = nil
    ) {
        self.destination = destination
        self.hub = hub
        self.node = node
        self.lastAttempt = lastAttempt
        self.lastSuccess = lastSuccess
        self.error = error
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
    }

    enum CodingKeys: String, CodingKey {
        case destination, hub, node, error
        case lastAttempt = "last_attempt"
        case lastSuccess = "last_success"
        case lastError = "last_error"
        case lastErrorAt = "last_error_at"
    }

    /// Whether this status belongs to `link` (and not to the link before it).
    package func belongs(to link: HubLink) -> Bool {
        destination == link.destination && hub == link.hub && node == link.node
    }

    /// The status in `state`, when there is one.
    package static func read(state: String) -> HubLinkStatus? {
        guard let data = FileManager.default.contents(atPath: HubLink.statusFileName(in: state)) else { return nil }
        return try? HubJSON.decoder.decode(HubLinkStatus.self, from: data)
    }
}

/// Wakes a waiting reporter before its interval is over (a change of the engine's health, a reload).
package final class ReportWakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    package init() {}

    /// Ends the current wait, or the next one at once.
    package func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits for `duration`, a `signal()`, or cancellation, whichever comes first.
    package func wait(for duration: Duration) async {
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: duration) } catch { return }
            self?.signal()
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
        state.withLock { $0.pending = false }
    }
}

/// Sends a report to the hub at once, then every interval and whenever woken (the engine's health changed). A hub
/// that is down is logged and retried; it never disturbs serving.
package struct HubReporter: Sendable {
    package var link: HubLink
    package var statusFile: String?
    package var logger: Logger
    /// Builds the report from the engine's counters at the moment of sending.
    package var snapshot: @Sendable () async -> NodeReport
    /// Told after every attempt: where the report went, and the error (`nil` when it went through).
    package var onOutcome: @Sendable (_ destination: String, _ error: String?) -> Void
    package let wakeup: ReportWakeup
    /// No two reports closer together than this, however often the reporter is woken.
    package var minimumSpacing: Duration = .milliseconds(500)

    package init(
        link: HubLink,
        statusFile: String?,
        logger: Logger,
        wakeup: ReportWakeup = ReportWakeup(),
        onOutcome: @escaping @Sendable (_ destination: String, _ error: String?) -> Void = { _, _ in },
        snapshot: @escaping @Sendable () async -> NodeReport
    ) {
        self.link = link
        self.statusFile = statusFile
        self.logger = logger
        self.wakeup = wakeup
        self.onOutcome = onOutcome
        self.snapshot = snapshot
    }

    /// Reports at once, then every interval and when woken, until the task is cancelled.
    package func run() async {
        let sender = ReportSender(link: link)
        var status: HubLinkStatus?
        while !Task.isCancelled {
            let report = await snapshot()
            guard !Task.isCancelled else { return }
            let now = Date()
            var problem: String?
            do {
                try await sender.send(report)
            } catch {
                problem = "\(error)"
                logger.warning(
                    "hub report failed",
                    metadata: ["hub.destination": "\(link.destination)", "error": "\(error)"]
                )
            }
            guard !Task.isCancelled else { return }
            let next = HubLinkStatus(
                destination: link.destination,
                hub: link.hub,
                node: link.node,
                lastAttempt: now,
                lastSuccess: problem == nil ? now : status?.lastSuccess,
                error: problem,
                lastError: problem ?? status?.lastError,
                lastErrorAt: problem == nil ? status?.lastErrorAt : now
            )
            status = next
            if let statusFile, let data = try? HubJSON.encoder.encode(next) {
                try? data.write(to: URL(fileURLWithPath: statusFile), options: .atomic)
            }
            onOutcome(link.destination, problem)
            do { try await Task.sleep(for: minimumSpacing) } catch { return }
            await wakeup.wait(for: .seconds(link.intervalSeconds) - minimumSpacing)
        }
    }
}

/// Delivers reports over a link: to the hub service, or into the registry on this machine.
struct ReportSender: Sendable {
    /// The registry, opened at the first report and kept.
    final class OpenedRegistry: Sendable {
        let value = Mutex<Registry?>(nil)
    }

    private enum Route: Sendable {
        case service(HubClient)
        case registry(path: String, opened: OpenedRegistry)
    }

    private let route: Route
    private let token: String

    init(link: HubLink) {
        token = link.token
        if let url = link.url {
            route = .service(
                HubClient(baseURL: url, token: link.token, timeout: .seconds(5), trust: link.trust ?? .system)
            )
        } else {
            route = .registry(path: link.registry ?? "", opened: OpenedRegistry())
        }
    }

    func send(_ report: NodeReport) async throws {
        switch route {
        case .service(let client):
            try await client.report(report)
        case let .registry(path, opened):
            let registry = try opened.value.withLock { registry throws -> Registry in
                if let registry { return registry }
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RegistryError.storage("\(path) does not exist")
                }
                let opened = try Registry(path: path)
                registry = opened
                return opened
            }
            _ = try registry.record(report, token: token)
        }
    }
}
