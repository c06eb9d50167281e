import CacheNodeCore
import Foundation

/// A node as the fleet view shows it: on the hub service's `/` and `/v1/fleet`, and in `cachenode hub nodes --json`.
package struct FleetNode: Equatable, Sendable, Encodable {
    package var name: String
    package var hub: String
    package var state: NodeState
    package var enrolled: Bool
    package var lastReportAt: Date?
    package var lastReportAgeSeconds: Int?
    package var version: String?
    package var health: String?
    package var hitRatio: Double?
    /// Bytes served from the cache since the node's first report, engine restarts included.
    package var bytesSaved: Int64?
    package var diskUsedBytes: Int64?
    package var peakEgressBitsPerSecond: Double?

    package init(_ record: NodeRecord, now: Date) {
        let report = record.lastReport
        name = record.name
        hub = record.hub
        state = record.state(now: now)
        enrolled = record.enrolled
        lastReportAt = record.lastReportAt
        lastReportAgeSeconds = record.lastReportAt.map { max(0, Int(now.timeIntervalSince($0).rounded(.down))) }
        version = report?.version
        health = report?.health
        hitRatio = report?.hitRatio
        bytesSaved = record.bytesSaved
        diskUsedBytes = report.map { $0.diskUsedBytes.values.reduce(0, +) }
        peakEgressBitsPerSecond = report?.peakEgressBitsPerSecond
    }

    enum CodingKeys: String, CodingKey {
        case name, hub, state, enrolled, version, health
        case lastReportAt = "last_report_at"
        case lastReportAgeSeconds = "last_report_age_s"
        case hitRatio = "hit_ratio"
        case bytesSaved = "bytes_saved"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
    }
}

/// The fleet at one moment: every node, trouble first, and the fleet's traffic per minute over the last day and per
/// hour over the last 90 days (periods without reports left out). `/v1/fleet` is this as JSON.
package struct FleetView: Sendable, Encodable {
    package var generatedAt: Date
    package var summary: Summary
    package var nodes: [FleetNode]
    package var minutes: [FleetPeriod]
    package var hours: [FleetPeriod]

    package struct Summary: Equatable, Sendable, Encodable {
        package var nodes: Int
        package var online: Int
        package var offline: Int
        package var pending: Int
        package var bytesServed24h: Int64
        package var bytesSaved24h: Int64
        package var bytesSaved90d: Int64
        package var diskUsedBytes: Int64

        enum CodingKeys: String, CodingKey {
            case nodes, online, offline, pending
            case bytesServed24h = "bytes_served_24h"
            case bytesSaved24h = "bytes_saved_24h"
            case bytesSaved90d = "bytes_saved_90d"
            case diskUsedBytes = "disk_used_bytes"
        }
    }

    package init(nodes records: [NodeRecord], minutes: [FleetPeriod], hours: [FleetPeriod], now: Date) {
        let order: [NodeState: Int] = [.offline: 0, .pending: 1, .online: 2]
        let nodes = records.map { FleetNode($0, now: now) }
            .enumerated()
            .sorted { (order[$0.element.state] ?? 3, $0.offset) < (order[$1.element.state] ?? 3, $1.offset) }
            .map(\.element)
        generatedAt = now
        self.nodes = nodes
        self.minutes = minutes
        self.hours = hours
        summary = Summary(
            nodes: nodes.count,
            online: nodes.count(where: { $0.state == .online }),
            offline: nodes.count(where: { $0.state == .offline }),
            pending: nodes.count(where: { $0.state == .pending }),
            bytesServed24h: minutes.reduce(0) { $0 + $1.bytesServed },
            bytesSaved24h: minutes.reduce(0) { $0 + $1.bytesFromCache },
            bytesSaved90d: hours.reduce(0) { $0 + $1.bytesFromCache },
            diskUsedBytes: nodes.reduce(0) { $0 + ($1.diskUsedBytes ?? 0) }
        )
    }

    /// The whole fleet from the registry, as at `now`.
    package init(registry: Registry, now: Date) throws(RegistryError) {
        self.init(
            nodes: try registry.nodes(),
            minutes: try registry.fleet(.minute, now: now),
            hours: try registry.fleet(.hour, now: now),
            now: now
        )
    }

    enum CodingKeys: String, CodingKey {
        case summary, nodes, minutes, hours
        case generatedAt = "generated_at"
    }
}

/// The hub service's `/`: the fleet at a glance, for an administrator's browser. One HTML document with its style, two
/// SVG plots drawn here from the rollups, the node table and a few lines of script that refresh the main part every
/// 30 seconds. No external asset, at a phone's width too; the look is the engine's status page's.
package struct FleetPage: Sendable {
    package var view: FleetView

    package init(view: FleetView) {
        self.view = view
    }

    /// The whole document. The script asks for the same address with `part=main`, so a `?token=` stays in it.
    package func document() -> String {
        PageParts.document(title: "CacheNode fleet", style: Self.style, main: main(), refreshSeconds: 30, failure: ("updated", "hub not answering"))
    }

    /// The part that refreshes: everything but the page's frame.
    package func main() -> String {
        let summary = view.summary
        let lastMinute = dense(view.minutes, .minute).last
        let egressNow = Double(lastMinute?.bytesServed ?? 0) * 8 / 60
        let share = summary.bytesServed24h > 0 ? Double(summary.bytesSaved24h) / Double(summary.bytesServed24h) : 0
        var html = """
            <header>
            <h1>Fleet <small>CacheNode hub</small></h1>
            <p><span id="counts"><span class="good">\(summary.online) online</span> · \
            <span class="\(summary.offline > 0 ? "bad" : "quiet")">\(summary.offline) offline</span> · \
            \(summary.pending) pending</span> · updated <time id="updated" datetime="\(PageParts.iso(view.generatedAt))">\(PageParts.clock(view.generatedAt))</time></p>
            </header>
            <section class="figures">
            \(figure("nodes", "Nodes", "\(summary.nodes)", value: "\(summary.nodes)", note: "\(summary.online) online"))
            \(figure("egress-now", "Egress", ByteCount.bitsPerSecond(egressNow), value: String(format: "%.0f", egressNow), note: "last full minute"))
            \(figure("served-24h", "Served, 24 h", ByteCount.format(summary.bytesServed24h), value: "\(summary.bytesServed24h)", note: "to clients"))
            \(figure("saved-24h", "Saved, 24 h", ByteCount.format(summary.bytesSaved24h), value: "\(summary.bytesSaved24h)", note: String(format: "%.1f %% from the caches", share * 100)))
            \(figure("saved-90d", "Saved, 90 days", ByteCount.format(summary.bytesSaved90d), value: "\(summary.bytesSaved90d)", note: "from the caches"))
            \(figure("disk-used", "Disk used", ByteCount.format(summary.diskUsedBytes), value: "\(summary.diskUsedBytes)", note: "all nodes"))
            </section>
            <section>
            <h2>Last 24 hours, per minute \(Self.legend)</h2>
            \(trafficPlot(.minute))
            <h2>Last 90 days, per hour \(Self.legend)</h2>
            \(trafficPlot(.hour))
            </section>
            <section>
            <h2>Nodes</h2>

            """
        if view.nodes.isEmpty {
            html += "<p id=\"nodes-table\" class=\"quiet\">No nodes yet: cachenode node create NAME --hub HUB</p>\n"
        } else {
            html +=
                "<table id=\"nodes-table\"><thead><tr><th>Node</th><th>Hub</th><th>State</th><th>Last report</th>"
                + "<th>Version</th><th>Hit ratio</th><th>Saved</th><th>Disk used</th></tr></thead><tbody>\n"
            for node in view.nodes {
                html += "<tr class=\"node\" data-state=\"\(node.state.rawValue)\"><td>\(PageParts.escape(node.name))</td>"
                html +=
                    "<td>\(PageParts.escape(node.hub))</td><td class=\"\(Self.stateClass(node.state))\">\(node.state.rawValue)</td>"
                html += "<td>\(node.lastReportAgeSeconds.map { PageParts.duration($0) + " ago" } ?? "never")</td>"
                html += "<td>\(PageParts.escape(node.version ?? "-"))</td>"
                html += "<td>\(node.hitRatio.map { String(format: "%.1f %%", $0 * 100) } ?? "-")</td>"
                html += "<td>\(node.bytesSaved.map(ByteCount.format) ?? "-")</td>"
                html += "<td>\(node.diskUsedBytes.map(ByteCount.format) ?? "-")</td></tr>\n"
            }
            html += "</tbody></table>\n"
        }
        html +=
            "</section>\n<footer>A node is offline after three report intervals of silence. "
            + "The same data as JSON: GET /v1/fleet with the admin token.</footer>\n"
        return html
    }

    private func figure(_ id: String, _ title: String, _ text: String, value: String, note: String) -> String {
        "<div class=\"figure\"><h3>\(title)</h3><p id=\"\(id)\" data-value=\"\(value)\">\(PageParts.escape(text))</p>"
            + "<small>\(PageParts.escape(note))</small></div>"
    }

    private static func stateClass(_ state: NodeState) -> String {
        switch state {
        case .online: "good"
        case .offline: "bad"
        case .pending: "quiet"
        }
    }

    // MARK: Plots

    static let legend =
        "<small class=\"legend\"><span class=\"swatch origin\"></span>egress <span class=\"swatch cache\"></span>saved (from the caches)</small>"

    /// Every complete period of the window up to `view.generatedAt`, oldest first, with zeros where nothing reported.
    func dense(_ periods: [FleetPeriod], _ resolution: RollupResolution) -> [FleetPeriod] {
        let last = resolution.period(of: view.generatedAt) - 1
        let first = last - Int64(resolution.kept) + 2
        let byPeriod = Dictionary(
            periods.map { (resolution.period(of: $0.start), $0) },
            uniquingKeysWith: { a, _ in a }
        )
        return (first...last).map { period in
            byPeriod[period]
                ?? FleetPeriod(
                    start: resolution.start(of: period),
                    bytesFromCache: 0,
                    bytesFromOrigin: 0,
                    diskUsedBytes: 0,
                    peakEgressBitsPerSecond: 0,
                    reports: 0,
                    nodes: 0
                )
        }
    }

    /// The fleet's egress with the part served from the caches in front, in bits per second, one point per period.
    func trafficPlot(_ resolution: RollupResolution) -> String {
        let periods = dense(resolution == .minute ? view.minutes : view.hours, resolution)
        let scale = 8 / Double(resolution.seconds)
        let served = periods.map { Double($0.bytesServed) * scale }
        let saved = periods.map { Double($0.bytesFromCache) * scale }
        let top = PageParts.niceCeiling(served.max() ?? 0)
        let span = resolution == .minute ? "24 hours" : "90 days"
        let (length, every, unit) = resolution == .minute ? (24, 6, "h") : (90, 15, "d")
        let ticks = stride(from: length, through: 0, by: -every).map { ago -> (Double, String) in
            (1 - Double(ago) / Double(length), ago == 0 ? "now" : "\(ago) \(unit) ago")
        }
        return PageParts.plot(
            id: "plot-\(resolution.rawValue)",
            label: "Fleet egress and bytes saved per \(resolution.rawValue) over the last \(span)",
            series: [("origin", served), ("cache", saved)],
            top: top,
            axis: ByteCount.bitsPerSecond(top),
            ticks: ticks
        )
    }

    /// The shared style and this page's own rules.
    static let style = PageParts.baseStyle + """
        td:first-child{word-break:break-all}
        @media (max-width:600px){main{padding:10px}.figure p{font-size:1.2em}th,td{padding:5px 4px}
        th:nth-child(2),td:nth-child(2),th:nth-child(5),td:nth-child(5),th:nth-child(8),td:nth-child(8){display:none}}
        """
}
