import CacheNodeCore
import Foundation
import Logging

/// How a node reaches its hub: written by `cachenode node enrol`, read by `cachenode serve`.
package struct HubLink: Codable, Equatable, Sendable {
    package var url: String
    package var hub: String
    package var node: String
    package var token: String
    package var intervalSeconds: Int
    /// How the hub's certificate is trusted; absent in links to a hub on loopback over plain HTTP.
    package var trust: HubTrust?

    package init(url: String, hub: String, node: String, token: String, intervalSeconds: Int = 60, trust: HubTrust? = nil) {
        self.url = url
        self.hub = hub
        self.node = node
        self.token = token
        self.intervalSeconds = intervalSeconds
        self.trust = trust
    }

    enum CodingKeys: String, CodingKey {
        case url, hub, node, token, trust
        case intervalSeconds = "interval_s"
    }

    package static func fileName(in state: String) -> String { state + "/hub-link.json" }
    package static func statusFileName(in state: String) -> String { state + "/hub-link.status.json" }
}

/// The outcome of the last report, for `cachenode status`.
package struct HubLinkStatus: Codable, Equatable, Sendable {
    package var lastAttempt: Date
    package var lastSuccess: Date?
    package var error: String?

    enum CodingKeys: String, CodingKey {
        case error
        case lastAttempt = "last_attempt"
        case lastSuccess = "last_success"
    }
}

/// Sends a report to the hub every interval. A hub that is down is logged and retried next
/// interval; it never disturbs serving.
package struct HubReporter: Sendable {
    package var link: HubLink
    package var statusFile: String?
    package var logger: Logger
    /// Builds the report from the engine's counters at the moment of sending.
    package var snapshot: @Sendable () async -> NodeReport

    package init(link: HubLink, statusFile: String?, logger: Logger, snapshot: @escaping @Sendable () async -> NodeReport) {
        self.link = link
        self.statusFile = statusFile
        self.logger = logger
        self.snapshot = snapshot
    }

    /// Reports at once, then every interval, until the task is cancelled.
    package func run() async {
        let client = HubClient(baseURL: link.url, token: link.token, timeout: .seconds(5), trust: link.trust ?? .system)
        var lastSuccess: Date?
        while !Task.isCancelled {
            let report = await snapshot()
            var problem: String?
            do {
                try await client.report(report)
                lastSuccess = Date()
            } catch {
                problem = "\(error)"
                logger.warning("hub report failed", metadata: ["hub.url": "\(link.url)", "error": "\(error)"])
            }
            if let statusFile {
                let status = HubLinkStatus(lastAttempt: Date(), lastSuccess: lastSuccess, error: problem)
                if let data = try? HubJSON.encoder.encode(status) {
                    try? data.write(to: URL(fileURLWithPath: statusFile), options: .atomic)
                }
            }
            do {
                try await Task.sleep(for: .seconds(link.intervalSeconds))
            } catch {
                return
            }
        }
    }
}
