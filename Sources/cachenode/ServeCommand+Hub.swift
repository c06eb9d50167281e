import CacheEngine
import CacheNodeCore
import Foundation
import Logging
import Management
import ServiceLifecycle

extension ServeCommand {
    /// The hub reporter, when `cachenode node enrol` linked this node to a hub (`<state>/hub-link.json`).
    static func hubReporter(state: String, engine: CacheEngine, logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let file = HubLink.fileName(in: state)
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        let link: HubLink
        do {
            link = try HubJSON.decoder.decode(HubLink.self, from: data)
        } catch {
            logger.error("hub link unreadable; not reporting", metadata: ["file": "\(file)", "error": "\(error)"])
            return []
        }
        logger.info("reporting to hub", metadata: ["hub.url": "\(link.url)", "hub": "\(link.hub)", "interval_s": "\(link.intervalSeconds)"])
        let reporter = HubReporter(link: link, statusFile: HubLink.statusFileName(in: state), logger: logger) {
            NodeReport(node: link.node, version: CacheNodeVersion.current, status: await engine.status(), intervalSeconds: link.intervalSeconds)
        }
        // Stops with the engine; a hub that is down only logs, it never stops serving.
        return [.init(service: ReporterService(reporter: reporter), successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)]
    }
}

/// The reporter as a service of the engine's group: reports until graceful shutdown begins.
struct ReporterService: Service {
    var reporter: HubReporter

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await reporter.run()
        }
    }
}
