import Foundation

/// What the engine's status page and the hub's fleet page share: HTML escaping, an SVG area plot, and the text forms
/// of times and numbers. Both pages are one document each, with nothing loaded from elsewhere.
package enum PageParts {
    package static let plotWidth = 720.0
    package static let plotHeight = 180.0

    /// A whole page: `main` in its frame, with a few lines of script that fetch the page again with `part=main` every
    /// `refreshSeconds` and put the answer in place, without reloading; when that fails, the element `failure.id`
    /// says `failure.text`. The page sends no referrer (a token may be in its address).
    package static func document(
        title: String,
        style: String,
        main: String,
        refreshSeconds: Int,
        failure: (id: String, text: String)
    ) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>\(escape(title))</title>
        <style>\(style)</style>
        </head>
        <body>
        <main id="main">
        \(main)
        </main>
        <script>
        setInterval(function () {
          var u = new URL(location.href); u.searchParams.set("part", "main");
          fetch(u, {cache: "no-store"}).then(function (r) { return r.ok ? r.text() : null; })
            .then(function (t) { if (t) { document.getElementById("main").innerHTML = t; } })
            .catch(function () { var s = document.getElementById("\(failure.id)"); if (s) { s.textContent = "\(escape(failure.text))"; s.className = "bad"; } });
        }, \(refreshSeconds * 1000));
        </script>
        </body>
        </html>

        """
    }

    /// An SVG area plot of values from oldest to newest, scaled to `top`, with a grid and labels at `ticks` (0 is the
    /// left edge, 1 the right).
    package static func plot(
        id: String,
        label: String,
        series: [(name: String, values: [Double])],
        top: Double,
        axis: String,
        ticks: [(position: Double, text: String)]
    ) -> String {
        let width = plotWidth
        let height = plotHeight
        var svg =
            "<svg id=\"\(id)\" class=\"plot\" viewBox=\"0 0 \(Int(width)) \(Int(height + 20))\" role=\"img\" "
            + "aria-label=\"\(escape(label))\" preserveAspectRatio=\"none\"><title>\(escape(label))</title>"
        for line in 0...4 {
            let y = decimal(height - height * Double(line) / 4)
            svg += "<line class=\"grid\" x1=\"0\" y1=\"\(y)\" x2=\"\(Int(width))\" y2=\"\(y)\"/>"
        }
        for (name, values) in series {
            guard values.count > 1 else { continue }
            let step = width / Double(values.count - 1)
            var path = "M0,\(decimal(height))"
            path.reserveCapacity(values.count * 14)
            for (index, value) in values.enumerated() {
                let y = top > 0 ? height - min(1, value / top) * height : height
                path += " L\(decimal(Double(index) * step)),\(decimal(y))"
            }
            path += " L\(decimal(width)),\(decimal(height)) Z"
            svg += "<path class=\"series \(name)\" d=\"\(path)\"/>"
        }
        svg += "<text class=\"axis\" x=\"4\" y=\"14\">\(escape(axis))</text>"
        for (position, text) in ticks {
            let anchor = position <= 0 ? "start" : (position >= 1 ? "end" : "middle")
            svg +=
                "<text class=\"axis\" x=\"\(decimal(width * position))\" y=\"\(Int(height + 16))\" text-anchor=\"\(anchor)\">"
                + "\(escape(text))</text>"
        }
        return svg + "</svg>"
    }

    /// 1, 2 or 5 times a power of ten, at least `value` (a plot's top).
    package static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 5, 10] where factor * power >= value { return factor * power }
        return 10 * power
    }

    package static func escape(_ text: String) -> String {
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

    package static func duration(_ seconds: Int) -> String {
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        if seconds < 172_800 { return "\(seconds / 3600) h \(seconds % 3600 / 60) min" }
        return "\(seconds / 86400) days"
    }

    /// One decimal, without `String(format:)`: a plot has thousands of coordinates.
    package static func decimal(_ value: Double) -> String {
        let tenths = Int((max(0, value) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    package static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    package static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "HH:mm:ss 'UTC'"
        return formatter.string(from: date)
    }

    /// The style both pages start from: light and dark, cards of figures, plots, tables, a phone's width.
    package static let baseStyle = """
        :root{color-scheme:light dark;--fg:#1d2430;--muted:#5b6678;--bg:#f6f7f9;--card:#fff;--line:#d8dde5;--cache:#2e7d32;--origin:#ef8f00;--bad:#c62828;--warn:#b26a00}
        @media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa4b5;--bg:#14171c;--card:#1d2128;--line:#343a45}}
        *{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        main{max-width:1100px;margin:0 auto;padding:16px}h1{margin:0;font-size:1.5em}h1 small{font-size:.55em;color:var(--muted);font-weight:normal}
        h2{font-size:1.05em;margin:20px 0 6px}h3{margin:0;font-size:.8em;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
        header p{margin:4px 0 12px;color:var(--muted)}.good{color:var(--cache)}.warn{color:var(--warn)}.bad{color:var(--bad)}
        .figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}
        .figure{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
        .figure p{margin:4px 0 0;font-size:1.45em;font-weight:600;font-variant-numeric:tabular-nums}.figure small{color:var(--muted)}
        .plot{width:100%;height:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
        .plot .grid{stroke:var(--line);stroke-width:1}.plot .axis{fill:var(--muted);font-size:12px}
        .plot .series{stroke-width:1.5}.plot .cache{fill:var(--cache);stroke:var(--cache);fill-opacity:.55}
        .plot .origin{fill:var(--origin);stroke:var(--origin);fill-opacity:.55}.plot .ratio{fill:var(--cache);stroke:var(--cache);fill-opacity:.3}
        table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;font-variant-numeric:tabular-nums}
        th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.8em;color:var(--muted)}
        .legend{font-weight:normal;color:var(--muted);font-size:.8em;margin-left:8px}
        .swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 8px}.swatch.cache{background:var(--cache)}.swatch.origin{background:var(--origin)}
        .quiet{color:var(--muted)}footer{margin:20px 0;color:var(--muted);font-size:.85em}footer a{color:inherit}
        """
}
