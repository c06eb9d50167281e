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

    package init(status: EngineStatus, history: [EngineHistory.Sample], egressNow: Double, busiest: [TopObjects.Entry], now: Date) {
        self.status = status
        self.history = history
        self.egressNow = egressNow
        self.busiest = busiest
        self.now = now
    }

    /// Served bytes over the last 24 hours.
    var servedToday: Int64 { history.reduce(0) { $0 + $1.served } }

    /// What needs attention, worst first; empty when the node is healthy.
    var problems: [String] {
        var problems: [String] = []
        for drive in status.drives where !drive.writable {
            problems.append("cache drive \(drive.path) stores nothing new (a write failed: full or read-only)")
        }
        let recentErrors = history.suffix(15).reduce(0) { $0 + $1.originErrors }
        if recentErrors > 0 { problems.append("\(recentErrors) origin errors in the last 15 minutes") }
        return problems
    }

    /// The whole document.
    package func document() -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>CacheNode \(Self.escape(status.node))</title>
        <style>\(Self.style)</style>
        </head>
        <body>
        <main id="main">
        \(main())
        </main>
        <script>
        setInterval(function () {
          fetch("/?part=main", {cache: "no-store"}).then(function (r) { return r.ok ? r.text() : null; })
            .then(function (t) { if (t) { document.getElementById("main").innerHTML = t; } })
            .catch(function () { var s = document.getElementById("state"); if (s) { s.textContent = "not answering"; s.className = "bad"; } });
        }, 10000);
        </script>
        </body>
        </html>

        """
    }

    /// The part that refreshes: everything but the page's frame.
    package func main() -> String {
        let problems = self.problems
        let health = problems.isEmpty ? "serving" : "serving, with warnings"
        var html = """
            <header>
            <h1><span id="node">\(Self.escape(status.node))</span> <small>CacheNode <span id="version">\(Self.escape(status.version))</span></small></h1>
            <p><span id="state" class="\(problems.isEmpty ? "good" : "warn")">\(health)</span>
             · up <span id="uptime" data-value="\(status.uptimeSeconds)">\(Self.duration(status.uptimeSeconds))</span>
             · clients at <span id="listen">\(Self.escape(status.listen))</span>
             · updated <time id="updated" datetime="\(Self.iso(now))">\(Self.clock(now))</time></p>
            </header>

            """
        if !problems.isEmpty {
            html += "<ul id=\"problems\">" + problems.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ul>\n"
        }
        html += """
            <section class="figures">
            \(figure("hit-ratio", "Hit ratio", String(format: "%.1f %%", status.hitRatio * 100), value: String(format: "%.6f", status.hitRatio), note: "bytes served from the cache"))
            \(figure("egress-now", "Egress now", ByteCount.bitsPerSecond(egressNow), value: String(format: "%.0f", egressNow), note: "to clients, last seconds"))
            \(figure("egress-24h", "Served, 24 h", ByteCount.format(servedToday), value: "\(servedToday)", note: "to clients"))
            \(figure("served-cache", "From cache", ByteCount.format(status.bytesFromCache), value: "\(status.bytesFromCache)", note: "since start"))
            \(figure("origin-received", "From origin", ByteCount.format(status.bytesFromOrigin), value: "\(status.bytesFromOrigin)", note: "fetched since start"))
            \(figure("origin-errors", "Origin errors", "\(status.originErrors)", value: "\(status.originErrors)", note: "since start"))
            \(figure("requests", "Requests", "\(status.requests)", value: "\(status.requests)", note: "\(status.hits) hits, \(status.misses) misses, \(status.partials) partial"))
            \(figure("connections", "Connections", "\(status.connections)", value: "\(status.connections)", note: "open now"))
            </section>
            <section>
            <h2>Egress, last 24 hours <small class="legend"><span class="key cache"></span>from the cache \
            <span class="key origin"></span>from the origin</small></h2>
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
                <tr class="drive" data-path="\(Self.escape(drive.path))" data-used="\(drive.usedBytes)" data-capacity="\(drive.capacityBytes)">\
                <td>\(Self.escape(drive.path))</td>\
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
            html += "<table id=\"busiest\"><thead><tr><th>Object</th><th>Served</th><th>From cache</th><th>Requests</th></tr></thead><tbody>\n"
            for entry in busiest {
                let share = entry.bytes > 0 ? Double(entry.cacheBytes) / Double(entry.bytes) : 0
                html += "<tr class=\"object\"><td class=\"key\">\(Self.escape(Self.shortened(entry.key, to: 90)))</td>"
                    + "<td>\(ByteCount.format(entry.bytes))</td><td>\(String(format: "%.0f", share * 100)) %</td><td>\(entry.requests)</td></tr>\n"
            }
            html += "</tbody></table>\n"
        }
        html += "</section>\n<footer>Block size \(ByteCount.format(Int64(status.blockSizeBytes))) · "
            + "<a href=\"/status\">/status</a> (JSON) · <a href=\"/metrics\">/metrics</a> (Prometheus) · "
            + "peak egress \(ByteCount.bitsPerSecond(status.peakEgressBitsPerSecond))</footer>\n"
        return html
    }

    private func figure(_ id: String, _ title: String, _ text: String, value: String, note: String) -> String {
        "<div class=\"figure\"><h3>\(title)</h3><p id=\"\(id)\" data-value=\"\(value)\">\(Self.escape(text))</p>"
            + "<small>\(Self.escape(note))</small></div>"
    }

    // MARK: Plots

    static let plotWidth = 720.0
    static let plotHeight = 180.0

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
        let top = Self.niceCeiling(total.max() ?? 0)
        return Self.plot(
            id: "plot-egress",
            label: "Egress per minute over the last 24 hours: from the cache and from the origin",
            series: [("origin", total), ("cache", cache)],
            top: top,
            axis: ByteCount.bitsPerSecond(top),
            hoursAgo: minutes.count / 60
        )
    }

    /// The share of bytes from the cache, per minute with traffic.
    func hitRatioPlot() -> String {
        let ratios = day.map { entry -> Double in
            guard let sample = entry.sample, sample.served > 0 else { return 0 }
            return Double(sample.servedFromCache) / Double(sample.served)
        }
        return Self.plot(
            id: "plot-hit-ratio",
            label: "Hit ratio per minute over the last 24 hours",
            series: [("ratio", ratios)],
            top: 1,
            axis: "100 %",
            hoursAgo: ratios.count / 60
        )
    }

    /// An SVG area plot of values from oldest to newest, scaled to `top`, with a grid and hour labels.
    static func plot(id: String, label: String, series: [(name: String, values: [Double])], top: Double, axis: String, hoursAgo: Int) -> String {
        let width = plotWidth
        let height = plotHeight
        var svg = "<svg id=\"\(id)\" class=\"plot\" viewBox=\"0 0 \(Int(width)) \(Int(height + 20))\" role=\"img\" aria-label=\"\(escape(label))\" preserveAspectRatio=\"none\">"
        svg += "<title>\(escape(label))</title>"
        for line in 0...4 {
            let y = height - height * Double(line) / 4
            svg += "<line class=\"grid\" x1=\"0\" y1=\"\(format(y))\" x2=\"\(Int(width))\" y2=\"\(format(y))\"/>"
        }
        for (name, values) in series {
            guard values.count > 1 else { continue }
            let step = width / Double(values.count - 1)
            var path = "M0,\(format(height))"
            for (index, value) in values.enumerated() {
                let y = top > 0 ? height - min(1, value / top) * height : height
                path += " L\(format(Double(index) * step)),\(format(y))"
            }
            path += " L\(format(width)),\(format(height)) Z"
            svg += "<path class=\"series \(name)\" d=\"\(path)\"/>"
        }
        svg += "<text class=\"axis\" x=\"4\" y=\"14\">\(escape(axis))</text>"
        for hours in stride(from: hoursAgo, through: 0, by: -6) {
            let x = width - width * Double(hours) / Double(max(1, hoursAgo))
            let text = hours == 0 ? "now" : "\(hours) h ago"
            let anchor = hours == hoursAgo ? "start" : (hours == 0 ? "end" : "middle")
            svg += "<text class=\"axis\" x=\"\(format(x))\" y=\"\(Int(height + 16))\" text-anchor=\"\(anchor)\">\(text)</text>"
        }
        return svg + "</svg>"
    }

    /// 1, 2 or 5 times a power of ten, at least `value` (a plot's top).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 5, 10] where factor * power >= value { return factor * power }
        return 10 * power
    }

    // MARK: Text

    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// A long object key with its middle cut out, so its host and its file name both show.
    static func shortened(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        let keep = (limit - 1) / 2
        return String(text.prefix(keep)) + "…" + String(text.suffix(limit - 1 - keep))
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        if seconds < 172_800 { return "\(seconds / 3600) h \(seconds % 3600 / 60) min" }
        return "\(seconds / 86400) days"
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    static let style = """
        :root{color-scheme:light dark;--fg:#1d2430;--muted:#5b6678;--bg:#f6f7f9;--card:#fff;--line:#d8dde5;--cache:#2e7d32;--origin:#ef8f00;--bad:#c62828;--warn:#b26a00}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa4b5;--bg:#14171c;--card:#1d2128;--line:#343a45}}
        *{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        main{max-width:1100px;margin:0 auto;padding:16px}h1{margin:0;font-size:1.5em}h1 small{font-size:.55em;color:var(--muted);font-weight:normal}
        h2{font-size:1.05em;margin:20px 0 6px}h3{margin:0;font-size:.8em;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
        header p{margin:4px 0 12px;color:var(--muted)}.good{color:var(--cache)}.warn{color:var(--warn)}.bad{color:var(--bad)}
        #problems{background:var(--card);border-left:4px solid var(--warn);padding:8px 8px 8px 28px;margin:0 0 12px}
        .figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
        .figure{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
        .figure p{margin:4px 0 0;font-size:1.45em;font-weight:600;font-variant-numeric:tabular-nums}.figure small{color:var(--muted)}
        .plot{width:100%;height:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
        .plot .grid{stroke:var(--line);stroke-width:1}.plot .axis{fill:var(--muted);font-size:12px}
        .plot .series{stroke-width:1.5}.plot .cache{fill:var(--cache);stroke:var(--cache);fill-opacity:.55}
        .plot .origin{fill:var(--origin);stroke:var(--origin);fill-opacity:.55}.plot .ratio{fill:var(--cache);stroke:var(--cache);fill-opacity:.3}
        table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;font-variant-numeric:tabular-nums}
        th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.8em;color:var(--muted)}
        td.key{word-break:break-all;font-family:ui-monospace,monospace;font-size:.85em}
        .bar{height:6px;background:var(--line);border-radius:3px;margin-bottom:3px;min-width:80px}.bar div{height:6px;background:var(--cache);border-radius:3px}
        .legend{font-weight:normal;color:var(--muted);font-size:.8em;margin-left:8px}
        .key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 8px}.key.cache{background:var(--cache)}.key.origin{background:var(--origin)}
        .quiet{color:var(--muted)}footer{margin:20px 0;color:var(--muted);font-size:.85em}footer a{color:inherit}
        @media (max-width:600px){main{padding:10px}.figure p{font-size:1.2em}th:nth-child(4),td:nth-child(4){display:none}}
        """
}
