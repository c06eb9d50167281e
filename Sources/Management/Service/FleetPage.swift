import CacheNodeCore
import Foundation

/// A node as the fleet view shows it: on the hub service's `/` and `/v1/fleet`, and in `cachenode hub nodes --json`.
package struct FleetNode: Equatable, Sendable, Encodable {
    package var name: String
    package var hub: String
    package var state: NodeState
    /// When the state began; `nil` for a node that never reported.
    package var stateSince: Date?
    /// Why the node is not simply serving, worst first.
    package var reasons: [HealthReason]
    package var enrolled: Bool
    package var lastReportAt: Date?
    package var lastReportAgeSeconds: Int?
    package var version: String?
    package var hitRatio: Double?
    /// Bytes served from the cache since the node's first report, engine restarts included.
    package var bytesSaved: Int64?
    package var diskUsedBytes: Int64?
    package var peakEgressBitsPerSecond: Double?
    /// The node's issues of the last 90 days, open ones first, where the view includes them (`hub nodes --json`).
    package var issues: [NodeIssue]?
    /// The node's HTTPS listener and certificate, as its last report gave them; `nil` without HTTPS.
    package var https: HTTPSStatus?

    package init(_ record: NodeRecord, now: Date, issues: [NodeIssue]? = nil) {
        let report = record.lastReport
        name = record.name
        hub = record.hub
        state = record.state(now: now)
        switch state {
        case .pending: stateSince = nil
        case .offline: stateSince = record.offlineSince()
        default: stateSince = record.stateSince ?? report?.health.since
        }
        reasons = record.reasons(now: now)
        enrolled = record.enrolled
        lastReportAt = record.lastReportAt
        lastReportAgeSeconds = record.lastReportAt.map { max(0, Int(now.timeIntervalSince($0).rounded(.down))) }
        version = report?.version
        hitRatio = report?.hitRatio
        bytesSaved = record.bytesSaved
        diskUsedBytes = report.map { $0.diskUsedBytes.values.reduce(0, +) }
        peakEgressBitsPerSecond = report?.peakEgressBitsPerSecond
        self.issues = issues
        https = report?.https
    }

    enum CodingKeys: String, CodingKey {
        case name, hub, state, reasons, enrolled, version, issues, https
        case stateSince = "state_since"
        case lastReportAt = "last_report_at"
        case lastReportAgeSeconds = "last_report_age_s"
        case hitRatio = "hit_ratio"
        case bytesSaved = "bytes_saved"
        case diskUsedBytes = "disk_used_bytes"
        case peakEgressBitsPerSecond = "peak_egress_bps"
    }

    /// The nodes trouble first (failing, offline, degraded, pending, serving), in their order within a state.
    package static func troubleFirst(_ nodes: [FleetNode]) -> [FleetNode] {
        nodes.enumerated()
            .sorted { ($0.element.state.rank, $0.offset) < ($1.element.state.rank, $1.offset) }
            .map(\.element)
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

    /// The issues of the last 90 days across the fleet, open ones first, at most `issueLimit`.
    package var issues: [FleetIssue]

    /// How many issues the fleet view lists; `GET /v1/issues` has them all.
    package static let issueLimit = 50

    package struct Summary: Equatable, Sendable, Encodable {
        package var nodes: Int
        /// Nodes that report: serving, degraded or failing.
        package var online: Int
        package var serving: Int
        package var degraded: Int
        package var failing: Int
        package var offline: Int
        package var pending: Int
        package var openIssues: Int
        package var bytesServed24h: Int64
        package var bytesSaved24h: Int64
        package var bytesSaved90d: Int64
        package var diskUsedBytes: Int64

        enum CodingKeys: String, CodingKey {
            case nodes, online, serving, degraded, failing, offline, pending
            case openIssues = "open_issues"
            case bytesServed24h = "bytes_served_24h"
            case bytesSaved24h = "bytes_saved_24h"
            case bytesSaved90d = "bytes_saved_90d"
            case diskUsedBytes = "disk_used_bytes"
        }
    }

    package init(
        nodes records: [NodeRecord],
        minutes: [FleetPeriod],
        hours: [FleetPeriod],
        issues: [FleetIssue] = [],
        now: Date
    ) {
        let nodes = FleetNode.troubleFirst(records.map { FleetNode($0, now: now) })
        generatedAt = now
        self.nodes = nodes
        self.minutes = minutes
        self.hours = hours
        self.issues = issues
        let count = { (state: NodeState) in nodes.count(where: { $0.state == state }) }
        summary = Summary(
            nodes: nodes.count,
            online: count(.serving) + count(.degraded) + count(.failing),
            serving: count(.serving),
            degraded: count(.degraded),
            failing: count(.failing),
            offline: count(.offline),
            pending: count(.pending),
            openIssues: issues.count(where: { $0.issue.isOpen }),
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
            issues: try registry.issues(now: now, limit: Self.issueLimit),
            now: now
        )
    }

    enum CodingKeys: String, CodingKey {
        case summary, nodes, minutes, hours, issues
        case generatedAt = "generated_at"
    }
}

/// The hub service's `/`: the fleet at a glance, for an administrator's browser. One HTML document with its style, two
/// SVG plots drawn here from the rollups, the node table (trouble first, each with its reasons, each linked to its own
/// page), the fleet's issues and a few lines of script that refresh the main part every 30 seconds. No external asset,
/// at a phone's width too; the look is the engine's status page's.
package struct FleetPage: Sendable {
    package var view: FleetView

    package init(view: FleetView) {
        self.view = view
    }

    /// The whole document. The script asks for the same address with `part=main`, so a `?token=` stays in it.
    package func document() -> String {
        PageParts.document(
            title: "CacheNode fleet",
            style: Self.style,
            main: main(),
            refreshSeconds: 30,
            failure: ("updated", "hub not answering")
        )
    }

    /// The part that refreshes: everything but the page's frame.
    package func main() -> String {
        let summary = view.summary
        let lastMinute = Self.dense(view.minutes, .minute, now: view.generatedAt).last
        let egressNow = Double(lastMinute?.bytesServed ?? 0) * 8 / 60
        let share = summary.bytesServed24h > 0 ? Double(summary.bytesSaved24h) / Double(summary.bytesServed24h) : 0
        let counts = [
            (summary.failing, "failing", "bad"), (summary.offline, "offline", "bad"),
            (summary.degraded, "degraded", "warn"),
            (summary.serving, "serving", "good"), (summary.pending, "pending", "quiet"),
        ].map { count, word, style in "<span class=\"\(count > 0 ? style : "quiet")\">\(count) \(word)</span>" }
        var html = """
            <header>
            <h1>Fleet <small>CacheNode hub</small></h1>
            <p><span id="counts">\(counts.joined(separator: " · "))</span> · updated \
            <time id="updated" datetime="\(PageParts.iso(view.generatedAt))">\(PageParts.clock(view.generatedAt))</time></p>
            </header>
            <section class="figures">
            \(Self.figure("nodes", "Nodes", "\(summary.nodes)", value: "\(summary.nodes)", note: "\(summary.online) online"))
            \(Self.figure("open-issues", "Open issues", "\(summary.openIssues)", value: "\(summary.openIssues)", note: "last 90 days"))
            \(Self.figure("egress-now", "Egress", ByteCount.bitsPerSecond(egressNow), value: String(format: "%.0f", egressNow), note: "last full minute"))
            \(Self.figure("served-24h", "Served, 24 h", ByteCount.format(summary.bytesServed24h), value: "\(summary.bytesServed24h)", note: "to clients"))
            \(Self.figure("saved-24h", "Saved, 24 h", ByteCount.format(summary.bytesSaved24h), value: "\(summary.bytesSaved24h)", note: String(format: "%.1f %% from the caches", share * 100)))
            \(Self.figure("saved-90d", "Saved, 90 days", ByteCount.format(summary.bytesSaved90d), value: "\(summary.bytesSaved90d)", note: "from the caches"))
            \(Self.figure("disk-used", "Disk used", ByteCount.format(summary.diskUsedBytes), value: "\(summary.diskUsedBytes)", note: "all nodes"))
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
                + "<th>Version</th><th>Hit ratio</th><th>Saved</th><th>Disk used</th><th>HTTPS certificate</th></tr>"
                + "</thead><tbody>\n"
            for node in view.nodes {
                html +=
                    "<tr class=\"node\" data-state=\"\(node.state.rawValue)\"><td>\(Self.nodeLink(node.hub, node.name))</td>"
                html += "<td>\(PageParts.escape(node.hub))</td><td>\(Self.stateCell(node.state, node.reasons))</td>"
                html += "<td>\(node.lastReportAgeSeconds.map { PageParts.duration($0) + " ago" } ?? "never")</td>"
                html += "<td>\(PageParts.escape(node.version ?? "-"))</td>"
                html += "<td>\(node.hitRatio.map { String(format: "%.1f %%", $0 * 100) } ?? "-")</td>"
                html += "<td>\(node.bytesSaved.map(ByteCount.format) ?? "-")</td>"
                html += "<td>\(node.diskUsedBytes.map(ByteCount.format) ?? "-")</td>"
                html += "<td>\(Self.certificateCell(node.https, now: view.generatedAt))</td></tr>\n"
            }
            html += "</tbody></table>\n"
        }
        html += "</section>\n<section>\n<h2>Issues <small class=\"legend\">open first, last 90 days</small></h2>\n"
        html += Self.issueTable(
            view.issues.map { ($0.hub, $0.node, $0.issue) },
            now: view.generatedAt,
            id: "issues-table"
        )
        html +=
            "</section>\n<footer>A node is offline after three report intervals of silence. "
            + "The same data as JSON: GET /v1/fleet and GET /v1/issues with the admin token.</footer>\n"
        return html
    }

    // MARK: Parts the node page shares

    /// The certificate's subject, names and expiry (marked within the warning days, or expired); `-` without HTTPS.
    static func certificateCell(_ https: HTTPSStatus?, now: Date) -> String {
        guard let https else { return "-" }
        guard let certificate = https.certificate else {
            return "<span class=\"warn\">none</span><div class=\"reason\">"
                + "\(PageParts.escape(https.problem ?? "none installed yet"))</div>"
        }
        let left = certificate.notAfter.timeIntervalSince(now)
        let style = left <= 0 ? "bad" : left < Double(CertificateRules.expiryWarningDays * 86_400) ? "warn" : "good"
        return "<span class=\"certificate\" data-not-after=\"\(PageParts.iso(certificate.notAfter))\">"
            + "\(PageParts.escape(certificate.subject))</span>"
            + "<div class=\"reason\">\(PageParts.escape(certificate.names.joined(separator: ", ")))"
            + "<small class=\"\(style)\">expires \(PageParts.escape(certificate.expiry(now: now)))</small></div>"
    }

    static func figure(_ id: String, _ title: String, _ text: String, value: String, note: String) -> String {
        "<div class=\"figure\"><h3>\(title)</h3><p id=\"\(id)\" data-value=\"\(value)\">\(PageParts.escape(text))</p>"
            + "<small>\(PageParts.escape(note))</small></div>"
    }

    static func stateClass(_ state: NodeState) -> String {
        switch state {
        case .serving: "good"
        case .degraded: "warn"
        case .failing, .offline: "bad"
        case .pending: "quiet"
        }
    }

    /// The node's own page, relative to the hub's root; the page's cookie carries the token there.
    static func nodeLink(_ hub: String, _ node: String) -> String {
        let path = "/node/\(Self.pathSegment(hub))/\(Self.pathSegment(node))"
        return "<a href=\"\(PageParts.escape(path))\">\(PageParts.escape(node))</a>"
    }

    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.")))
            ?? text
    }

    /// A state word with its reasons under it, each with what to do.
    static func stateCell(_ state: NodeState, _ reasons: [HealthReason]) -> String {
        var html = "<span class=\"state \(stateClass(state))\">\(state.rawValue)</span>"
        for reason in reasons {
            html +=
                "<div class=\"reason\" data-kind=\"\(PageParts.escape(reason.kind))\">\(PageParts.escape(reason.detail))"
            html += "<small>\(PageParts.escape(reason.action))</small></div>"
        }
        return html
    }

    /// Issues as a table, open ones marked; `nil` nodes leave the node columns out (a node's own page).
    static func issueTable(
        _ issues: [(hub: String, node: String, issue: NodeIssue)],
        now: Date,
        id: String,
        nodeColumns: Bool = true
    ) -> String {
        guard !issues.isEmpty else { return "<p id=\"\(id)\" class=\"quiet\">No issues in the last 90 days.</p>\n" }
        var html = "<table id=\"\(id)\"><thead><tr>"
        if nodeColumns { html += "<th>Node</th><th>Hub</th>" }
        html += "<th>Issue</th><th>Started</th><th>Ended</th><th>What to do</th></tr></thead><tbody>\n"
        for (hub, node, issue) in issues {
            let style = issue.isOpen ? (issue.severity == .failing ? "bad" : "warn") : "quiet"
            html += "<tr class=\"issue\" data-open=\"\(issue.isOpen)\">"
            if nodeColumns { html += "<td>\(nodeLink(hub, node))</td><td>\(PageParts.escape(hub))</td>" }
            html += "<td><span class=\"\(style)\">\(PageParts.escape(issue.kind))</span>"
            html += "<div class=\"reason\">\(PageParts.escape(issue.detail))</div></td>"
            html +=
                "<td><time datetime=\"\(PageParts.iso(issue.start))\">\(Self.when(issue.start, now: now))</time></td>"
            if let end = issue.end {
                html += "<td><time datetime=\"\(PageParts.iso(end))\">\(Self.when(end, now: now))</time>"
                html +=
                    "<small> after \(PageParts.duration(max(0, Int(end.timeIntervalSince(issue.start)))))</small></td>"
            } else {
                html +=
                    "<td class=\"\(style)\">open, \(PageParts.duration(max(0, Int(now.timeIntervalSince(issue.start)))))</td>"
            }
            html += "<td><small>\(PageParts.escape(issue.action))</small></td></tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    /// A time as `3 min ago`, or `2027-01-15 08:00 UTC` when more than a day ago.
    static func when(_ date: Date, now: Date) -> String {
        let age = Int(now.timeIntervalSince(date))
        guard age >= 0, age < 86_400 else {
            return String(PageParts.iso(date).prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC"
        }
        return PageParts.duration(age) + " ago"
    }

    // MARK: Plots

    static let legend =
        "<small class=\"legend\"><span class=\"swatch origin\"></span>egress <span class=\"swatch cache\"></span>saved (from the caches)</small>"

    /// Every complete period of the window up to `view.generatedAt`, oldest first, with zeros where nothing reported.
    func dense(_ periods: [FleetPeriod], _ resolution: RollupResolution) -> [FleetPeriod] {
        Self.dense(periods, resolution, now: view.generatedAt)
    }

    static func dense(_ periods: [FleetPeriod], _ resolution: RollupResolution, now: Date) -> [FleetPeriod] {
        let last = resolution.period(of: now) - 1
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
        Self.trafficPlot(
            resolution == .minute ? view.minutes : view.hours,
            resolution,
            now: view.generatedAt,
            of: "Fleet"
        )
    }

    static func trafficPlot(_ periods: [FleetPeriod], _ resolution: RollupResolution, now: Date, of subject: String)
        -> String
    {
        let periods = dense(periods, resolution, now: now)
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
            label: "\(subject) egress and bytes saved per \(resolution.rawValue) over the last \(span)",
            series: [("origin", served), ("cache", saved)],
            top: top,
            axis: ByteCount.bitsPerSecond(top),
            ticks: ticks
        )
    }

    /// The shared style and this page's own rules.
    static let style =
        PageParts.baseStyle + """
            td:first-child{word-break:break-all}a{color:inherit}.state{font-weight:600}
            .reason{font-size:.85em;margin-top:2px}.reason small{display:block;color:var(--muted)}
            @media (max-width:600px){main{padding:10px}.figure p{font-size:1.2em}th,td{padding:5px 4px}
            #nodes-table th:nth-child(2),#nodes-table td:nth-child(2),#nodes-table th:nth-child(5),#nodes-table td:nth-child(5),
            #nodes-table th:nth-child(8),#nodes-table td:nth-child(8){display:none}}
            """
}
