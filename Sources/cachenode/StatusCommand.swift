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

    var engineRunning: Bool { engine != nil }

    enum CodingKeys: String, CodingKey {
        case node, root, components, engine
        case statusPage = "status_page"
        case upstreamProxy = "upstream_proxy"
    }

    /// Reads the install under `layout`: the engine's admin listener, its pid file and the hub link files.
    static func gather(layout: InstallLayout, configuration: NodeConfiguration, now: Date = Date()) -> NodeStatusReport {
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
        let service = layout.isRealInstall ? ServiceState.read() : nil
        if let service {
            components.append(
                Component(name: "service", state: service.isActive ? "active" : service.activeState, pid: service.mainPID, detail: service.summary)
            )
        }
        let recordedPid = EngineProcess.running(pidFile: layout.pidFile) ?? service?.mainPID
        if let engine {
            components.append(Component(name: "engine", state: "running", pid: engine.pid, uptimeSeconds: engine.uptimeSeconds, detail: ports))
        } else if let recordedPid {
            components.append(
                Component(name: "engine", state: "not responding", pid: recordedPid, detail: "\(ports); /status does not answer")
            )
        } else {
            components.append(Component(name: "engine", state: "stopped", detail: ports))
        }

        let linkFile = HubLink.fileName(in: layout.stateDirectory)
        if let data = FileManager.default.contents(atPath: linkFile), let link = try? HubJSON.decoder.decode(HubLink.self, from: data) {
            let target = "\(link.url) hub \(link.hub) node \(link.node)"
            var state = "waiting"
            var detail = "\(target), no report yet"
            if let data = FileManager.default.contents(atPath: HubLink.statusFileName(in: layout.stateDirectory)),
                let status = try? HubJSON.decoder.decode(HubLinkStatus.self, from: data)
            {
                let silentFor = status.lastSuccess.map { Int(now.timeIntervalSince($0)) }
                if let error = status.error {
                    state = "failing"
                    detail = "\(target), last attempt failed: \(error)"
                } else if let silentFor, silentFor > 3 * link.intervalSeconds {
                    state = "stale"
                    detail = "\(target), last report \(Elapsed.describe(seconds: silentFor)) ago"
                } else {
                    state = "ok"
                    detail = "\(target), last report \(Elapsed.describe(seconds: silentFor ?? 0)) ago"
                }
            }
            components.append(Component(name: "hub link", state: state, detail: detail))
            components.append(
                Component(
                    name: "reporter",
                    state: engine == nil ? "stopped" : "running",
                    pid: engine?.pid,
                    uptimeSeconds: engine?.uptimeSeconds,
                    detail: "every \(link.intervalSeconds) s, inside the engine"
                )
            )
        } else {
            components.append(Component(name: "hub link", state: "not enrolled", detail: "cachenode node enrol links this node to a hub"))
            components.append(Component(name: "reporter", state: "off", detail: "starts with the engine once the node is enrolled"))
        }
        return NodeStatusReport(
            node: configuration.node.name,
            root: layout.root,
            components: components,
            upstreamProxy: configuration.engine.upstreamProxy.map(ProxyURL.redacting),
            engine: engine,
            statusPage: page
        )
    }

    /// The table a person reads.
    func render() -> String {
        var lines: [String] = ["Node \(node)\(root == "/" ? "" : " (installed under \(root))")", ""]
        lines.append(
            TextTable.render(
                [["COMPONENT", "STATE", "PID", "UPTIME", "DETAIL"]]
                    + components.map {
                        [$0.name, $0.state, $0.pid.map(String.init) ?? "-", $0.uptimeSeconds.map(Elapsed.describe(seconds:)) ?? "-", $0.detail]
                    }
            )
        )
        lines.append("")
        lines.append("Origin fetches: " + (upstreamProxy.map { "through the upstream proxy \($0)" } ?? "straight to the CDN"))
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
                        let percent = drive.capacityBytes > 0 ? Double(drive.usedBytes) * 100 / Double(drive.capacityBytes) : 0
                        return [
                            drive.path, ByteCount.format(drive.capacityBytes), ByteCount.format(drive.usedBytes),
                            String(format: "%.0f%%", percent), "\(drive.objects)", drive.writable ? "yes" : "no",
                        ]
                    }
            )
        )
        lines.append("")
        lines.append("Objects:            \(engine.objects)")
        lines.append("Requests:           \(engine.requests) (\(engine.hits) hits, \(engine.partials) partial, \(engine.misses) misses)")
        lines.append("Hit ratio:          " + String(format: "%.1f%%", engine.hitRatio * 100))
        lines.append("Served from cache:  \(ByteCount.format(engine.bytesFromCache)) (bytes saved on the internet link)")
        lines.append("Fetched from origin: \(ByteCount.format(engine.bytesFromOrigin)), \(engine.originErrors) origin errors")
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

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the node's components and its cache use.",
        discussion: "Exit status 0 when the engine answers, 1 when it is down."
    )

    @OptionGroup var install: InstallOptions

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let node = try install.installed()
        let report = NodeStatusReport.gather(layout: install.layout, configuration: node.configuration)
        if json {
            let encoder = EngineStatus.encoder
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.render())
        }
        if !report.engineRunning { throw CommandFailure(.failure, "") }
    }
}
