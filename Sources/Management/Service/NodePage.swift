import CacheNodeCore
import Foundation

/// One node as the hub knows it: its state and reasons, its traffic per minute over the last day and per hour over
/// the last 90 days (from its rollups), and its issues of the last 90 days, open ones first.
package struct NodeView: Sendable {
    package var generatedAt: Date
    package var node: FleetNode
    package var minutes: [NodeRollup]
    package var hours: [NodeRollup]

    package init(node: FleetNode, minutes: [NodeRollup], hours: [NodeRollup], now: Date) {
        generatedAt = now
        self.node = node
        self.minutes = minutes
        self.hours = hours
    }

    /// The node `name` of `hub` from the registry, as at `now`.
    package init(registry: Registry, hub: String, node name: String, now: Date) throws(RegistryError) {
        guard let record = try registry.nodes(hub: hub).first(where: { $0.name.lowercased() == name.lowercased() })
        else {
            throw .noSuchNode(node: name, hub: hub)
        }
        self.init(
            node: FleetNode(
                record,
                now: now,
                issues: try registry.issues(hub: hub, node: record.name, now: now).map(\.issue)
            ),
            minutes: try registry.rollups(node: record.name, hub: hub, .minute, now: now),
            hours: try registry.rollups(node: record.name, hub: hub, .hour, now: now),
            now: now
        )
    }
}

/// The hub service's `/node/{hub}/{node}`: one node's page, in the fleet page's look, refreshed the same way.
package struct NodePage: Sendable {
    package var view: NodeView

    package init(view: NodeView) {
        self.view = view
    }

    package func document() -> String {
        PageParts.document(
            title: "\(view.node.name) · CacheNode fleet",
            style: FleetPage.style,
            main: main(),
            refreshSeconds: 30,
            failure: ("updated", "hub not answering")
        )
    }

    package func main() -> String {
        let node = view.node
        let now = view.generatedAt
        let since =
            node.stateSince.map {
                " since <time datetime=\"\(PageParts.iso($0))\">\(FleetPage.when($0, now: now))</time>"
            } ?? ""
        let lastReport = node.lastReportAgeSeconds.map { PageParts.duration($0) + " ago" } ?? "never"
        let hourly = view.hours.map(Self.period)
        let saved24h = view.minutes.reduce(0) { $0 + $1.bytesFromCache }
        let served24h = view.minutes.reduce(0) { $0 + $1.bytesFromCache + $1.bytesFromOrigin }
        var html = """
            <header>
            <h1>\(PageParts.escape(node.name)) <small>node of hub \(PageParts.escape(node.hub)) · <a href="/">fleet</a></small></h1>
            <p><span id="state" data-state="\(node.state.rawValue)" class="state \(FleetPage.stateClass(node.state))">\(node.state.rawValue)</span>\(since) · \
            last report \(lastReport) · version \(PageParts.escape(node.version ?? "-")) · updated \
            <time id="updated" datetime="\(PageParts.iso(now))">\(PageParts.clock(now))</time></p>

            """
        if !node.reasons.isEmpty {
            html += "<ul id=\"reasons\">"
            for reason in node.reasons {
                html +=
                    "<li class=\"\(reason.severity == .failing ? "bad" : "warn")\">\(PageParts.escape(reason.detail))"
                html += "<small> · since \(FleetPage.when(reason.since, now: now))</small>"
                html += "<div class=\"reason\"><small>\(PageParts.escape(reason.action))</small></div></li>"
            }
            html += "</ul>\n"
        }
        html += """
            </header>
            <section class="figures">
            \(FleetPage.figure("hit-ratio", "Hit ratio", node.hitRatio.map { String(format: "%.1f %%", $0 * 100) } ?? "-", value: "\(node.hitRatio ?? 0)", note: "last report"))
            \(FleetPage.figure("served-24h", "Served, 24 h", ByteCount.format(served24h), value: "\(served24h)", note: "to clients"))
            \(FleetPage.figure("saved-24h", "Saved, 24 h", ByteCount.format(saved24h), value: "\(saved24h)", note: "from the cache"))
            \(FleetPage.figure("saved", "Saved", node.bytesSaved.map(ByteCount.format) ?? "-", value: "\(node.bytesSaved ?? 0)", note: "since the first report"))
            \(FleetPage.figure("disk-used", "Disk used", node.diskUsedBytes.map(ByteCount.format) ?? "-", value: "\(node.diskUsedBytes ?? 0)", note: "all drives"))
            \(FleetPage.figure("peak-egress", "Peak egress", node.peakEgressBitsPerSecond.map(ByteCount.bitsPerSecond) ?? "-", value: "\(node.peakEgressBitsPerSecond ?? 0)", note: "last report"))
            \(node.https.map { Self.certificateFigure($0, now: now) } ?? "")
            </section>
            <section>
            <h2>Last 24 hours, per minute \(FleetPage.legend)</h2>
            \(FleetPage.trafficPlot(view.minutes.map(Self.period), .minute, now: now, of: node.name))
            <h2>Last 90 days, per hour \(FleetPage.legend)</h2>
            \(FleetPage.trafficPlot(hourly, .hour, now: now, of: node.name))
            </section>
            <section>
            <h2>Issues <small class="legend">open first, last 90 days</small></h2>

            """
        html += FleetPage.issueTable(
            (node.issues ?? []).map { (node.hub, node.name, $0) },
            now: now,
            id: "issues-table",
            nodeColumns: false
        )
        html +=
            "</section>\n<footer>Issues are kept for 90 days after they end. As JSON: GET /v1/issues?hub=HUB&amp;node=NODE "
            + "with the admin token.</footer>\n"
        return html
    }

    /// The HTTPS certificate's expiry, with its subject and names under it.
    static func certificateFigure(_ https: HTTPSStatus, now: Date) -> String {
        guard let certificate = https.certificate else {
            return FleetPage.figure(
                "certificate",
                "HTTPS certificate",
                "none",
                value: "",
                note: https.problem ?? "none installed yet"
            )
        }
        return FleetPage.figure(
            "certificate",
            "HTTPS certificate",
            "expires " + certificate.expiry(now: now),
            value: PageParts.iso(certificate.notAfter),
            note: "\(certificate.subject); names \(certificate.names.joined(separator: ", "))"
        )
    }

    /// A node's rollup as a period of a fleet of one, for the shared plot.
    static func period(_ rollup: NodeRollup) -> FleetPeriod {
        FleetPeriod(
            start: rollup.start,
            bytesFromCache: rollup.bytesFromCache,
            bytesFromOrigin: rollup.bytesFromOrigin,
            diskUsedBytes: rollup.diskUsedBytes,
            peakEgressBitsPerSecond: rollup.peakEgressBitsPerSecond,
            reports: rollup.reports,
            nodes: 1
        )
    }
}
