import CacheNodeCore
import Foundation

/// The admin listener's `/`: the node at a glance, for an administrator's browser. One HTML document with its style,
/// its plots (SVG drawn here from the engine's own history) and a few lines of script that refresh the main part every
/// 10 seconds without reloading. No external asset: it works offline and behind any proxy, at a phone's width too.
package struct StatusPage: Sendable {
    package var status: EngineStatus
    package var history: [EngineHistory.Sample]
    package var egressNow: Double
    package var busiest: [TopObjects.Entry]
    package var now: Date

    package init(
        status: EngineStatus,
        history: [EngineHistory.Sample],
        egressNow: Double,
        busiest: [TopObjects.Entry],
        now: Date
    ) {
        self.status = status
        self.history = history
        self.egressNow = egressNow
        self.busiest = busiest
        self.now = now
    }

    /// Served bytes over the last 24 hours.
    var servedToday: Int64 { history.reduce(0) { $0 + $1.served } }

    /// The whole document.
    package func document() -> String {
        PageParts.document(
            title: "CacheNode \(status.node)",
            style: Self.style,
            main: main(),
            refreshSeconds: 10,
            failure: ("state", "not answering")
        )
    }

    /// The part that refreshes: everything but the page's frame.
    package func main() -> String {
        let health = status.health
        let tone =
            switch health.state {
            case .serving: "good"
            case .degraded: "warn"
            case .failing: "bad"
            }
        var html = """
            <header>
            <h1><span id="node">\(PageParts.escape(status.node))</span> <small>CacheNode <span id="version">\(PageParts.escape(status.version))</span></small></h1>
            <p><span id="state" class="\(tone)" title="since \(PageParts.iso(health.since))">\(health.state.rawValue)</span>
             · up <span id="uptime" data-value="\(status.uptimeSeconds)">\(PageParts.duration(status.uptimeSeconds))</span>
             · clients at <span id="listen">\(PageParts.escape(status.listen))</span>
             · updated <time id="updated" datetime="\(PageParts.iso(now))">\(PageParts.clock(now))</time></p>
            </header>

            """
        if !health.reasons.isEmpty {
            html += "<ul id=\"problems\">"
            for reason in health.reasons {
                html +=
                    "<li class=\"reason\" data-kind=\"\(reason.kind)\"><span class=\"\(reason.severity == .failing ? "bad" : "warn")\">"
                    + "\(PageParts.escape(reason.detail))</span> <small>since \(PageParts.clock(reason.since)) · "
                    + "\(PageParts.escape(reason.action))</small></li>"
            }
            html += "</ul>\n"
        }
        html += """
            <section class="figures">
            \(hitRatioFigure())
            \(figure("egress-now", "Egress now", ByteCount.bitsPerSecond(egressNow), value: String(format: "%.0f", egressNow), note: "to clients, last seconds"))
            \(figure("egress-24h", "Served, 24 h", ByteCount.format(servedToday), value: "\(servedToday)", note: "to clients"))
            \(figure("served-cache", "From cache", ByteCount.format(status.bytesFromCache), value: "\(status.bytesFromCache)", note: "since start"))
            \(figure("origin-received", "From origin", ByteCount.format(status.bytesFromOrigin), value: "\(status.bytesFromOrigin)", note: "fetched since start"))
            \(figure("origin-errors", "Origin errors", "\(status.originErrors)", value: "\(status.originErrors)", note: "since start; \(status.revalidations ?? 0) revalidations, \(status.staleServed ?? 0) stale answers"))
            \(figure("requests", "Requests", "\(status.requests)", value: "\(status.requests)", note: "\(status.hits) hits, \(status.misses) misses, \(status.partials) partial"))
            \(figure("connections", "Connections", "\(status.connections)", value: "\(status.connections)", note: "open now"))
            </section>
            <section>
            <h2>Egress, last 24 hours <small class="legend"><span class="swatch cache"></span>from the cache \
            <span class="swatch origin"></span>from the origin</small></h2>
            \(egressPlot())
            <h2>Hit ratio, last 24 hours</h2>
            \(hitRatioPlot())
            </section>
            <section>
            <h2>Cache drives</h2>
            <table id="drives"><thead><tr><th>Drive</th><th>Used</th><th>Size</th><th>Objects</th><th>State</th></tr></thead><tbody>

            """
        for drive in status.drives {
            let share = drive.capacityBytes > 0 ? Double(drive.usedBytes) / Double(drive.capacityBytes) : 0
            html += """
                <tr class="drive" data-path="\(PageParts.escape(drive.path))" data-used="\(drive.usedBytes)" data-capacity="\(drive.capacityBytes)">\
                <td>\(PageParts.escape(drive.path))</td>\
                <td><div class="bar"><div style="width:\(String(format: "%.1f", min(1, share) * 100))%"></div></div>\
                \(ByteCount.format(drive.usedBytes)) (\(String(format: "%.0f", share * 100)) %)</td>\
                <td>\(ByteCount.format(drive.capacityBytes))</td><td>\(drive.objects)</td>\
                <td class="\(drive.writable ? "good" : "bad")">\(drive.writable ? "writable" : "not writable")</td></tr>

                """
        }
        html += """
            </tbody></table>
            </section>
            <section>
            <h2>Busiest objects</h2>

            """
        if busiest.isEmpty {
            html += "<p id=\"busiest\" class=\"quiet\">No object served yet.</p>\n"
        } else {
            html +=
                "<table id=\"busiest\"><thead><tr><th>Object</th><th>Served</th><th>From cache</th><th>Requests</th></tr></thead><tbody>\n"
            for entry in busiest {
                let share = entry.bytes > 0 ? Double(entry.cacheBytes) / Double(entry.bytes) : 0
                html +=
                    "<tr class=\"object\"><td class=\"key\">\(PageParts.escape(Self.shortened(entry.key, to: 90)))</td>"
                    + "<td>\(ByteCount.format(entry.bytes))</td><td>\(String(format: "%.0f", share * 100)) %</td><td>\(entry.requests)</td></tr>\n"
            }
            html += "</tbody></table>\n"
        }
        html += "</section>\n" + httpsSection() + issuesSection()
        html +=
            "<footer>Block size \(ByteCount.format(Int64(status.blockSizeBytes))) · "
            + "<a href=\"/status\">/status</a> (JSON) · <a href=\"/metrics\">/metrics</a> (Prometheus) · "
            + "peak egress \(ByteCount.bitsPerSecond(status.peakEgressBitsPerSecond))</footer>\n"
        return html
    }

    /// The TLS listener's certificate: subject, names, expiry, and why the files are not served when they are not.
    func httpsSection() -> String {
        guard let https = status.https else { return "" }
        var html = "<section>\n<h2>HTTPS on \(PageParts.escape(https.listen))</h2>\n"
        if let certificate = https.certificate {
            let days = Int(certificate.notAfter.timeIntervalSince(now) / 86_400)
            let tone = days < 0 ? "bad" : (days < CertificateRules.expiryWarningDays ? "warn" : "good")
            let left = days < 0 ? "expired" : "\(days) days left"
            let loaded = https.loadedAt.map { " · loaded \(PageParts.iso($0))" } ?? ""
            html += """
                <table id="certificate"><tbody>
                <tr><th>Subject</th><td id="certificate-subject">\(PageParts.escape(certificate.subject))</td></tr>
                <tr><th>Names</th><td id="certificate-names">\(PageParts.escape(certificate.names.joined(separator: ", ")))</td></tr>
                <tr><th>Expires</th><td id="certificate-expiry" class="\(tone)" data-value="\(PageParts.iso(certificate.notAfter))">\
                \(PageParts.iso(certificate.notAfter)) (\(left))</td></tr>
                <tr><th>Issuer</th><td>\(PageParts.escape(certificate.issuer))</td></tr>
                <tr><th>Fingerprint</th><td class="key"><small>\(PageParts.escape(certificate.fingerprint))\(loaded)</small></td></tr>
                </tbody></table>

                """
        } else {
            html += "<p id=\"certificate\" class=\"warn\">No certificate served: HTTPS handshakes are refused.</p>\n"
        }
        if let problem = https.problem {
            html += "<p id=\"certificate-problem\" class=\"warn\">\(PageParts.escape(problem))</p>\n"
        }
        return html + "</section>\n"
    }

    /// The recent issues, newest first: what went wrong, when, and for how long.
    private func issuesSection() -> String {
        let recent = status.issues.suffix(10).reversed()
        guard !recent.isEmpty else {
            return "<section>\n<h2>Issues</h2>\n<p id=\"issues\" class=\"quiet\">No issue so far.</p>\n</section>\n"
        }
        var html =
            "<section>\n<h2>Issues</h2>\n<table id=\"issues\"><thead><tr><th>Issue</th><th>Started</th><th>Ended</th>"
            + "</tr></thead><tbody>\n"
        for issue in recent {
            let end = issue.end.map { PageParts.iso($0) } ?? "open"
            html +=
                "<tr class=\"issue\" data-kind=\"\(issue.kind)\" data-open=\"\(issue.isOpen)\">"
                + "<td class=\"\(issue.isOpen ? (issue.severity == .failing ? "bad" : "warn") : "")\">\(PageParts.escape(issue.detail))"
                + "<br><small>\(PageParts.escape(issue.action))</small></td>"
                + "<td>\(PageParts.iso(issue.start))</td><td>\(end)</td></tr>\n"
        }
        return html + "</tbody></table>\n</section>\n"
    }

    /// The hit ratio, or that there is none yet: before a byte was served from the cache or the origin, 0 % is no ratio.
    private func hitRatioFigure() -> String {
        let value = String(format: "%.6f", status.hitRatio)
        guard status.bytesFromCache > 0 || status.bytesFromOrigin > 0 else {
            return figure("hit-ratio", "Hit ratio", "no traffic yet", value: value, note: "nothing served since start")
        }
        return figure(
            "hit-ratio",
            "Hit ratio",
            String(format: "%.1f %%", status.hitRatio * 100),
            value: value,
            note: "bytes served from the cache"
        )
    }

    private func figure(_ id: String, _ title: String, _ text: String, value: String, note: String) -> String {
        "<div class=\"figure\"><h3>\(title)</h3><p id=\"\(id)\" data-value=\"\(value)\">\(PageParts.escape(text))</p>"
            + "<small>\(PageParts.escape(note))</small></div>"
    }

    // MARK: Plots

    /// The minutes of the last 24 hours up to `now`, each with its sample (or none: nothing was served).
    private var day: [(minute: Int64, sample: EngineHistory.Sample?)] {
        let last = Int64(now.timeIntervalSince1970 / 60)
        let byMinute = Dictionary(history.map { ($0.minute, $0) }, uniquingKeysWith: { a, _ in a })
        return ((last - Int64(EngineHistory.minutes) + 1)...last).map { ($0, byMinute[$0]) }
    }

    /// Egress per minute, stacked: from the cache under from the origin, in bits per second.
    func egressPlot() -> String {
        let minutes = day
        let cache = minutes.map { Double($0.sample?.servedFromCache ?? 0) * 8 / 60 }
        let total = minutes.map { Double($0.sample?.served ?? 0) * 8 / 60 }
        let top = PageParts.niceCeiling(total.max() ?? 0)
        return PageParts.plot(
            id: "plot-egress",
            label: "Egress per minute over the last 24 hours: from the cache and from the origin",
            series: [("origin", total), ("cache", cache)],
            top: top,
            axis: ByteCount.bitsPerSecond(top),
            ticks: Self.dayTicks
        )
    }

    /// The share of bytes from the cache, per minute with traffic.
    func hitRatioPlot() -> String {
        let ratios = day.map { entry -> Double in
            guard let sample = entry.sample, sample.served > 0 else { return 0 }
            return Double(sample.servedFromCache) / Double(sample.served)
        }
        return PageParts.plot(
            id: "plot-hit-ratio",
            label: "Hit ratio per minute over the last 24 hours",
            series: [("ratio", ratios)],
            top: 1,
            axis: "100 %",
            ticks: Self.dayTicks
        )
    }

    /// Every 6 hours of the last 24.
    static var dayTicks: [(position: Double, text: String)] {
        stride(from: 24, through: 0, by: -6).map { hours in
            (1 - Double(hours) / 24, hours == 0 ? "now" : "\(hours) h ago")
        }
    }

    // MARK: Text

    /// A long object key with its middle cut out, so its host and its file name both show.
    static func shortened(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        let keep = (limit - 1) / 2
        return String(text.prefix(keep)) + "…" + String(text.suffix(limit - 1 - keep))
    }

    /// The shared style and this page's own rules.
    static let style =
        PageParts.baseStyle + """
            #problems{background:var(--card);border-left:4px solid var(--warn);padding:8px 8px 8px 28px;margin:0 0 12px}
            td.key{word-break:break-all;font-family:ui-monospace,monospace;font-size:.85em}
            .bar{height:6px;background:var(--line);border-radius:3px;margin-bottom:3px;min-width:80px}.bar div{height:6px;background:var(--cache);border-radius:3px}
            @media (max-width:600px){main{padding:10px}.figure p{font-size:1.2em}th:nth-child(4),td:nth-child(4){display:none}}
            """
}
