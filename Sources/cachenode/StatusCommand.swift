import ArgumentParser
import CacheNodeCore
import Foundation
import Installer
import Management

/// What `cachenode status` found: each component, then the cache.
struct NodeStatusReport: Codable {
    struct Component: Codable {
        var name: String
        var state: String
        var pid: Int32?
        var uptimeSeconds: Int?
        var detail: String

        enum CodingKeys: String, CodingKey {
            case name, state, pid, detail
            case uptimeSeconds = "uptime_s"
        }
    }

    var node: String
    var root: String
    var components: [Component]
    /// Where origin fetches go: `nil` straight to the CDN, else the proxy's URL with its password hidden.
    var upstreamProxy: String?
    /// The engine's own `/status` document; absent when the engine does not answer.
    var engine: EngineStatus?
    /// The status page on the admin listener, as this machine reaches it.
    var statusPage: String?
    /// The engine's health: serving, degraded or failing, with the reasons; absent when the engine does not answer.
    var health: NodeHealth?
    /// The link to the hub and how its reports go.
    var hub: HubState

    var engineRunning: Bool { engine != nil }

    enum CodingKeys: String, CodingKey {
        case node, root, components, engine, health, hub
        case statusPage = "status_page"
        case upstreamProxy = "upstream_proxy"
    }

    /// Reads the install under `layout`: the engine's admin listener, its pid file and the hub link files.
    static func gather(layout: InstallLayout, configuration: NodeConfiguration, now: Date = Date()) async
        -> NodeStatusReport
    {
        var engine: EngineStatus?
        var components: [Component] = []
        let page = ListenAddress(configuration.engine.admin).map { admin -> String in
            let target = HTTPProbe.target(for: admin)
            let host = target.host.contains(":") ? "[\(target.host)]" : target.host
            return "http://\(host):\(target.port)/"
        }
        let ports = "\(configuration.engine.listen) (clients), \(configuration.engine.admin) (admin)"
        if let admin = ListenAddress(configuration.engine.admin),
            let response = try? HTTPProbe.get(HTTPProbe.target(for: admin), path: "/status", timeoutSeconds: 3),
            response.status == 200
        {
            engine = try? EngineStatus.decoder.decode(EngineStatus.self, from: Data(response.body))
        }
        let service = layout.isRealInstall ? await ServiceState.read() : nil
        if let service {
            components.append(
                Component(
                    name: "service",
                    state: service.isActive ? "active" : service.activeState,
                    pid: service.mainPID,
                    detail: service.summary
                )
            )
        }
        let recordedPid = EngineProcess.running(pidFile: layout.pidFile) ?? service?.mainPID
        if let engine {
            components.append(
                Component(
                    name: "engine",
                    state: "running",
                    pid: engine.pid,
                    uptimeSeconds: engine.uptimeSeconds,
                    detail: ports
                )
            )
        } else if let recordedPid {
            components.append(
                Component(
                    name: "engine",
                    state: "not responding",
                    pid: recordedPid,
                    detail: "\(ports); /status does not answer"
                )
            )
        } else {
            components.append(Component(name: "engine", state: "stopped", detail: ports))
        }

        let hub = HubState.gather(state: layout.stateDirectory, engineRunning: engine != nil, now: now)
        components.append(Component(name: "hub link", state: hub.linkState, detail: hub.linkDetail))
        components.append(
            Component(
                name: "reporter",
                state: hub.reporter,
                pid: hub.reporter == "off" ? nil : engine?.pid,
                uptimeSeconds: hub.reporter == "off" ? nil : engine?.uptimeSeconds,
                detail: hub.reporterDetail
            )
        )
        return NodeStatusReport(
            node: configuration.node.name,
            root: layout.root,
            components: components,
            upstreamProxy: configuration.engine.upstreamProxy.map(ProxyURL.redacting),
            engine: engine,
            statusPage: page,
            health: engine?.health,
            hub: hub
        )
    }

    /// The table a person reads.
    func render(now: Date = Date()) -> String {
        var lines: [String] = ["Node \(node)\(root == "/" ? "" : " (installed under \(root))")", ""]
        if let health {
            let since = Elapsed.describe(seconds: Int(now.timeIntervalSince(health.since)))
            lines.append("Health: \(health.state.rawValue) (for \(since))")
            for reason in health.reasons {
                let age = Elapsed.describe(seconds: Int(now.timeIntervalSince(reason.since)))
                lines.append("  - [\(reason.severity.rawValue)] \(reason.detail) (for \(age))")
                lines.append("    what to do: \(reason.action)")
            }
            lines.append("")
        }
        lines.append(
            TextTable.render(
                [["COMPONENT", "STATE", "PID", "UPTIME", "DETAIL"]]
                    + components.map {
                        [
                            $0.name, $0.state, $0.pid.map(String.init) ?? "-",
                            $0.uptimeSeconds.map(Elapsed.describe(seconds:)) ?? "-", $0.detail,
                        ]
                    }
            )
        )
        lines.append("")
        lines.append(
            "Origin fetches: " + (upstreamProxy.map { "through the upstream proxy \($0)" } ?? "straight to the CDN")
        )
        if let https = engine?.https {
            lines.append("")
            lines += Self.httpsLines(https, now: now)
        }
        guard let engine else {
            lines.append("")
            lines.append("The engine is not running: cache figures are unavailable.")
            return lines.joined(separator: "\n")
        }
        lines.append("")
        lines.append(
            TextTable.render(
                [["DRIVE", "SIZE", "USED", "USE%", "OBJECTS", "WRITABLE"]]
                    + engine.drives.map { drive in
                        let percent =
                            drive.capacityBytes > 0 ? Double(drive.usedBytes) * 100 / Double(drive.capacityBytes) : 0
                        return [
                            drive.path, ByteCount.format(drive.capacityBytes), ByteCount.format(drive.usedBytes),
                            String(format: "%.0f%%", percent), "\(drive.objects)", drive.writable ? "yes" : "no",
                        ]
                    }
            )
        )
        lines.append("")
        lines.append("Objects:            \(engine.objects)")
        lines.append(
            "Requests:           \(engine.requests) (\(engine.hits) hits, \(engine.partials) partial, \(engine.misses) misses)"
        )
        lines.append("Hit ratio:          " + String(format: "%.1f%%", engine.hitRatio * 100))
        lines.append(
            "Served from cache:  \(ByteCount.format(engine.bytesFromCache)) (bytes saved on the internet link)"
        )
        lines.append(
            "Fetched from origin: \(ByteCount.format(engine.bytesFromOrigin)), \(engine.originErrors) origin errors"
        )
        if let stale = engine.staleServed, stale > 0 {
            lines.append("Served stale:       \(stale) answers while the origin could not be reached to revalidate")
        }
        if let statusPage {
            lines.append("")
            lines.append("Status page:        \(statusPage) (plots of the last 24 hours; from another machine, through")
            lines.append("                    an SSH tunnel or with engine.admin on an address it reaches)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Durations as people read them: 45s, 12m05s, 3h07m, 2d04h.
enum Elapsed {
    static func describe(seconds: Int) -> String {
        let s = max(0, seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        if s < 86400 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        return String(format: "%dd%02dh", s / 86400, (s % 86400) / 3600)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the node's components and its cache use.",
        discussion: "Exit status 0 when the engine answers, 1 when it is down."
    )

    @OptionGroup var install: InstallOptions

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() async throws {
        let node = try install.installed()
        let report = await NodeStatusReport.gather(layout: install.layout, configuration: node.configuration)
        if json {
            let encoder = EngineStatus.encoder
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.render())
        }
        if !report.engineRunning { throw CommandFailure(.failure, "") }
    }
}

/// The hub link and its reporter as `cachenode status` tells them: the reporter is "running" only while a link exists
/// and its reports go through.
struct HubState: Codable, Equatable {
    var linked: Bool
    var hub: String?
    var node: String?
    /// The hub service's URL, or the registry on this machine.
    var destination: String?
    var intervalSeconds: Int?
    /// off (no link), stopped (the engine is down), waiting (no report over this link yet), running, failing, stale.
    var reporter: String
    var lastReport: Date?
    var lastAttempt: Date?
    var lastError: String?
    var lastErrorAt: Date?
    /// Why the link cannot be read, when it cannot.
    var problem: String?

    enum CodingKeys: String, CodingKey {
        case linked, hub, node, destination, reporter, problem
        case intervalSeconds = "interval_s"
        case lastReport = "last_report"
        case lastAttempt = "last_attempt"
        case lastError = "last_error"
        case lastErrorAt = "last_error_at"
    }

    static func gather(state: String, engineRunning: Bool, now: Date) -> HubState {
        let link: HubLink?
        do {
            link = try HubLink.read(state: state)
        } catch {
            return HubState(
                linked: false,
                reporter: "off",
                problem: "\(HubLink.fileName(in: state)) cannot be read: \(error)"
            )
        }
        guard let link else { return HubState(linked: false, reporter: "off") }
        var result = HubState(
            linked: true,
            hub: link.hub,
            node: link.node,
            destination: link.destination,
            intervalSeconds: link.intervalSeconds,
            reporter: engineRunning ? "waiting" : "stopped"
        )
        guard let status = HubLinkStatus.read(state: state), status.belongs(to: link) else { return result }
        result.lastReport = status.lastSuccess
        result.lastAttempt = status.lastAttempt
        result.lastError = status.lastError
        result.lastErrorAt = status.lastErrorAt
        guard engineRunning else { return result }
        if status.error != nil {
            result.reporter = "failing"
        } else if let success = status.lastSuccess, now.timeIntervalSince(success) <= Double(3 * link.intervalSeconds) {
            result.reporter = "running"
        } else {
            result.reporter = "stale"
        }
        return result
    }

    var linkState: String { problem != nil ? "unreadable" : linked ? "linked" : "not linked" }

    var linkDetail: String {
        if let problem { return problem }
        guard linked else { return "the node joins no hub: cachenode setup (the hub step), or cachenode node enrol" }
        return "hub \(hub ?? "-"), node \(node ?? "-"), at \(destination ?? "-")"
    }

    var reporterDetail: String {
        let now = Date()
        func ago(_ date: Date?) -> String {
            date.map { "\(Elapsed.describe(seconds: Int(now.timeIntervalSince($0)))) ago" } ?? "never"
        }
        let every = "every \(intervalSeconds ?? 60) s, inside the engine"
        var detail: String
        switch reporter {
        case "off": return "reports once the node is linked to a hub"
        case "stopped": detail = "the engine is not running; " + every
        case "waiting":
            detail =
                "no report over this link yet: the engine takes a new link on a reload "
                + "(systemctl reload cachenode; under --root, setup and node enrol signal it)"
        default: detail = every
        }
        detail += "; last report \(ago(lastReport))"
        if let lastError { detail += "; last error \(ago(lastErrorAt)): \(lastError)" }
        return detail
    }
}
