import CacheEngine
import CacheNodeCore
import Foundation
import Logging
import Management
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The engine's link to its hub, kept in step with `<state>/hub-link.json`: read at start and again on every reload
/// (SIGHUP, which `systemctl reload cachenode` sends), starting, replacing or stopping the reporter without a restart.
///
/// The first report goes out at start and at every change of the link, then every interval, and at once when the
/// engine's health changes.
struct HubLinkService: Service {
    var state: String
    var engine: CacheEngine
    var logger: Logger
    /// SIGHUP, trapped before the engine starts so that an early reload never ends the process.
    var reloads: UnixSignalsSequence

    /// The reporter running now, and the link it reports over.
    final class Current: Sendable {
        struct Running {
            var link: HubLink
            var task: Task<Void, Never>
            var wakeup: ReportWakeup
        }

        let value = Mutex<Running?>(nil)
    }

    func run() async throws {
        let current = Current()
        engine.setHealthObserver { _ in
            // A change of state goes to the hub at once.
            current.value.withLock { $0?.wakeup }?.signal()
        }
        apply(readLink(), to: current)
        await cancelWhenGracefulShutdown {
            for await _ in reloads {
                logger.info("reload: reading the hub link", metadata: ["file": "\(HubLink.fileName(in: state))"])
                apply(readLink(), to: current)
                // The same signal reads the TLS certificate files again (a renewal without a restart).
                if engine.configuration.engine.https != nil {
                    logger.info("reload: reading the TLS certificate files")
                    engine.reloadCertificates()
                }
            }
        }
        if let running = current.value.withLock({ $0 }) {
            running.task.cancel()
            await running.task.value
        }
    }

    /// The link on disk; `nil` when there is none or it cannot be read (then the node does not report).
    func readLink() -> HubLink? {
        do {
            return try HubLink.read(state: state)
        } catch {
            logger.error(
                "hub link unreadable; not reporting",
                metadata: ["file": "\(HubLink.fileName(in: state))", "error": "\(error)"]
            )
            return nil
        }
    }

    /// Starts, replaces or stops the reporter so that it reports over `link`; an unchanged link reports at once.
    func apply(_ link: HubLink?, to current: Current) {
        let previous = current.value.withLock { running -> Current.Running? in
            if let running, running.link == link {
                running.wakeup.signal()
                return nil
            }
            let old = running
            running = link.map(start)
            return old
        }
        if let previous {
            previous.task.cancel()
            logger.info(
                "hub link changed; the old reporter stops",
                metadata: ["hub.destination": "\(previous.link.destination)"]
            )
        }
        if link == nil, previous != nil {
            try? FileManager.default.removeItem(atPath: HubLink.statusFileName(in: state))
            engine.hubReportOutcome(url: nil, error: nil)
            logger.info("no hub link; not reporting")
        }
    }

    private func start(_ link: HubLink) -> Current.Running {
        logger.info(
            "reporting to hub",
            metadata: [
                "hub.destination": "\(link.destination)", "hub": "\(link.hub)", "interval_s": "\(link.intervalSeconds)",
            ]
        )
        let engine = self.engine
        let statusFile = HubLink.statusFileName(in: state)
        // A status of the link before belongs to it, not to this one.
        if let old = HubLinkStatus.read(state: state), !old.belongs(to: link) {
            try? FileManager.default.removeItem(atPath: statusFile)
        }
        let reporter = HubReporter(
            link: link,
            statusFile: statusFile,
            logger: logger,
            onOutcome: { destination, error in engine.hubReportOutcome(url: destination, error: error) }
        ) {
            NodeReport(
                node: link.node,
                version: CacheNodeVersion.current,
                status: await engine.status(),
                intervalSeconds: link.intervalSeconds
            )
        }
        return Current.Running(link: link, task: Task { await reporter.run() }, wakeup: reporter.wakeup)
    }
}
