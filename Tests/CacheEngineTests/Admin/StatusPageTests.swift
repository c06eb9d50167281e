import CacheNodeCore
import CacheNodeTestSupport
import Foundation
import Testing

@testable import CacheEngine

#if canImport(Glibc)
    import Glibc
#endif

@Suite
struct EngineHistoryTests {
    static func totals(_ cache: Int64, _ origin: Int64, requests: Int64 = 0, errors: Int64 = 0) -> EngineHistory.Totals
    {
        var totals = EngineHistory.Totals()
        totals.servedFromCache = cache
        totals.servedFromOrigin = origin
        totals.requests = requests
        totals.originErrors = errors
        return totals
    }

    @Test func samplesArePerMinuteBoundedToADayAndKeptAcrossRestarts() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.root, withIntermediateDirectories: true)
        let path = directory.root + "/history.json"
        let history = EngineHistory(path: path)
        let start = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 60))
        // The first tick only notes the totals (they start from zero at each start of the engine).
        history.tick(Self.totals(500, 500), at: start)
        #expect(history.samples.isEmpty)
        history.tick(Self.totals(1500, 700, requests: 3), at: start.addingTimeInterval(10))
        history.tick(Self.totals(2500, 900, requests: 5, errors: 1), at: start.addingTimeInterval(70))
        let samples = history.samples
        #expect(samples.count == 2)
        #expect(
            samples[0]
                == EngineHistory.Sample(
                    minute: Int64(start.timeIntervalSince1970 / 60),
                    servedFromCache: 1000,
                    servedFromOrigin: 200,
                    requests: 3
                )
        )
        #expect(samples[1].servedFromCache == 1000 && samples[1].originErrors == 1 && samples[1].requests == 2)
        // 1,200 bytes in 60 seconds.
        #expect(history.egressNow == 1200 * 8 / 60)

        history.save()
        #expect(EngineHistory(path: path).samples == samples)

        // Two days later, a sample a minute: the oldest go, a day stays.
        var totals = Self.totals(2500, 900)
        for minute in 2..<(2 * 1440) {
            totals.servedFromCache += 60
            history.tick(totals, at: start.addingTimeInterval(Double(minute) * 60))
        }
        #expect(history.samples.count == EngineHistory.minutes)
        #expect(
            history.samples.first?.minute == Int64(start.timeIntervalSince1970 / 60)
                + Int64(2 * 1440 - EngineHistory.minutes)
        )
        // A clock that goes back does not leave samples from the future.
        history.tick(totals, at: start.addingTimeInterval(Double(1500) * 60))
        #expect(history.samples.last?.minute == Int64(start.timeIntervalSince1970 / 60) + 1500)
        #expect(history.samples.allSatisfy { $0.minute <= Int64(start.timeIntervalSince1970 / 60) + 1500 })
    }

    @Test func aDamagedHistoryFileStartsEmpty() throws {
        let directory = TestCacheDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.root, withIntermediateDirectories: true)
        try "[{\"minute\": 1".write(toFile: directory.root + "/history.json", atomically: true, encoding: .utf8)
        #expect(EngineHistory(path: directory.root + "/history.json").samples.isEmpty)
    }

    @Test func theBusiestObjectsAreKeptInBoundedMemory() {
        let top = TopObjects(capacity: 8)
        for round in 0..<50 {
            top.add("big", bytes: 1_000_000, cacheBytes: 1_000_000)
            top.add("steady", bytes: 100_000, cacheBytes: 0)
            top.add("once-\(round)", bytes: 10, cacheBytes: 0)
        }
        let busiest = top.top(2)
        #expect(busiest.map(\.key) == ["big", "steady"])
        #expect(busiest[0].bytes == 50_000_000 && busiest[0].requests == 50)
        #expect(top.top(100).count == 8)
    }
}

@Suite
struct StatusPageTests {
    static let repository = MetricsTests.repository

    /// An engine that served a miss and hits, and its page.
    static func withBusyEngine(_ body: (EngineHarness, [UInt8]) async throws -> Void) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/filestreamingservice/files/big.bin", length: 300_000, seed: 81)
            for _ in 0..<4 { expectBytes(try await harness.get("/filestreamingservice/files/big.bin").body, bytes) }
            harness.origin.add("/small.bin", length: 1000, seed: 82)
            _ = try await harness.get("/small.bin")
            await harness.engine.settle()
            try await body(harness, bytes)
        }
    }

    /// The text of the element with `id`, and its `data-value`.
    static func element(_ id: String, in html: String) -> (text: String, value: String?)? {
        guard let start = html.range(of: "id=\"\(id)\"") else { return nil }
        let tagEnd = html[start.upperBound...].firstIndex(of: ">")!
        let attributes = html[start.upperBound..<tagEnd]
        let value = attributes.firstMatch(of: /data-value="([^"]*)"/).map { String($0.output.1) }
        let rest = html[html.index(after: tagEnd)...]
        let text = rest.prefix { $0 != "<" }
        return (String(text), value)
    }

    @Test func thePageShowsWhatStatusSaysWithNothingFromElsewhere() async throws {
        try await Self.withBusyEngine { harness, _ in
            harness.engine.history.tick(harness.engine.counters.totals, at: Date())
            let response = try await TestHTTPClient.get(port: harness.adminPort, "/")
            #expect(response.status == 200)
            #expect(response.header("content-type") == "text/html; charset=utf-8")
            let html = String(decoding: response.body, as: UTF8.self)
            let status = await harness.engine.status()
            #expect(Self.element("node", in: html)?.text == status.node)
            #expect(Self.element("version", in: html)?.text == status.version)
            #expect(Self.element("hit-ratio", in: html)?.value == String(format: "%.6f", status.hitRatio))
            #expect(Self.element("served-cache", in: html)?.value == "\(status.bytesFromCache)")
            #expect(Self.element("origin-received", in: html)?.value == "\(status.bytesFromOrigin)")
            #expect(Self.element("requests", in: html)?.value == "\(status.requests)")
            #expect(Self.element("origin-errors", in: html)?.value == "0")
            #expect(Self.element("state", in: html)?.text == "serving")
            #expect(
                html.contains("data-path=\"\(harness.directory.drive)\" data-used=\"\(status.drives[0].usedBytes)\"")
            )
            #expect(html.contains("<svg id=\"plot-egress\"") && html.contains("<svg id=\"plot-hit-ratio\""))
            // The busiest object first.
            let busiest = try #require(html.range(of: "id=\"busiest\""))
            #expect(html[busiest.upperBound...].contains("/filestreamingservice/files/big.bin"))
            // Works offline: nothing is loaded from elsewhere.
            #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="))
            #expect(html.contains("<meta name=\"viewport\""))

            // The part the script fetches is the page's main part alone.
            let part = try await TestHTTPClient.get(port: harness.adminPort, "/?part=main")
            let partHTML = String(decoding: part.body, as: UTF8.self)
            #expect(partHTML.hasPrefix("<header>") && !partHTML.contains("<html"))
            // Wherever `part=main` stands in the query (the script keeps the page's own query).
            let later = try await TestHTTPClient.get(port: harness.adminPort, "/?view=x&part=main")
            #expect(String(decoding: later.body, as: UTF8.self).hasPrefix("<header>"))
        }
    }

    @Test func objectKeysAndNamesAreEscaped() {
        var status = EngineStatus(
            version: "1",
            node: "N<1>",
            pid: 1,
            startedAt: Date(),
            uptimeSeconds: 5,
            listen: "0.0.0.0:80",
            admin: "x",
            blockSizeBytes: 1 << 20,
            objects: 0,
            requests: 0,
            hits: 0,
            misses: 0,
            partials: 0,
            hitRatio: 0,
            bytesFromCache: 0,
            bytesFromOrigin: 0,
            originErrors: 0,
            connections: 0,
            peakEgressBitsPerSecond: 0,
            drives: []
        )
        status.drives = [.init(path: "/srv/\"cache\"", capacityBytes: 10, usedBytes: 5, objects: 1, writable: false)]
        let now = Date()
        status.health = NodeHealth(
            state: .failing,
            reasons: HealthRules.reasons(
                HealthInputs(drives: [
                    .init(path: "/srv/\"cache\"", writable: false, remainingBytes: 5, fileSystemFreeBytes: nil)
                ]),
                now: now
            ),
            since: now
        )
        let page = StatusPage(
            status: status,
            history: [],
            egressNow: 0,
            busiest: [.init(key: "host/<script>alert(1)</script>", bytes: 5, cacheBytes: 0, requests: 1, error: 0)],
            now: Date()
        )
        let html = page.document()
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("N&lt;1&gt;"))
        #expect(html.contains("/srv/&quot;cache&quot;"))
        // The health's reasons are on top, with the state.
        #expect(Self.element("state", in: html)?.text == "failing")
        #expect(html.contains("no cache drive takes new blocks: /srv/&quot;cache&quot;"))
    }

    // MARK: In a real browser

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    /// Where the screenshots go, for a person to look at.
    static let screenshots = NSTemporaryDirectory() + "cachenode-status-page"

    @discardableResult
    static func browse(_ arguments: [String], url: String) throws -> String {
        let profile = NSTemporaryDirectory() + "cachenode-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let command =
            [
                chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--user-data-dir=\(profile)", "--hide-scrollbars",
            ] + arguments + [url]
        // A browser that hangs must not hang the suite: it is killed after two minutes (the test then fails on
        // its missing output).
        var watchdog: DispatchWorkItem?
        let result = try ChildProcess.run(command) { pid in
            let item = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: item)
            watchdog = item
        }
        watchdog?.cancel()
        let data = Data(result.stdout.utf8)
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.enabled(if: chromium != nil, "chromium is not installed (.ci/run installs it)"))
    func chromiumShowsThePageIdleAndBusyAndItsFiguresMatchStatus() async throws {
        try FileManager.default.createDirectory(atPath: Self.screenshots, withIntermediateDirectories: true)
        // Idle: a node that has served nothing.
        try await EngineHarness.with { idle in
            let idleURL = "http://127.0.0.1:\(idle.adminPort)/"
            _ = try await TestHTTPClient.blocking {
                try Self.browse(["--window-size=1280,1400", "--screenshot=\(Self.screenshots)/idle.png"], url: idleURL)
            }
        }

        try await Self.withBusyEngine { harness, _ in
            // A day of history, as the engine's ticker would have recorded it.
            let now = Date()
            let history = harness.engine.history
            var totals = EngineHistory.Totals()
            history.tick(totals, at: now.addingTimeInterval(-86_400))
            for minute in stride(from: 1, through: 1440, by: 1) {
                let busy = 0.5 + 0.5 * sin(Double(minute) / 1440 * 2 * .pi - .pi / 2)
                totals.servedFromCache += Int64(busy * 6e9 * (0.6 + 0.3 * Double(minute) / 1440))
                totals.servedFromOrigin += Int64(busy * 6e9 * (0.4 - 0.3 * Double(minute) / 1440))
                history.tick(totals, at: now.addingTimeInterval(Double(minute - 1440) * 60))
            }
            let url = "http://127.0.0.1:\(harness.adminPort)/"
            let dom = try await TestHTTPClient.blocking { () -> String in
                try Self.browse(["--window-size=1280,1400", "--screenshot=\(Self.screenshots)/busy.png"], url: url)
                try Self.browse(["--window-size=390,1800", "--screenshot=\(Self.screenshots)/phone.png"], url: url)
                // Ten seconds and more of the page's own time: its script has replaced the main part by then.
                return try Self.browse(["--virtual-time-budget=15000", "--dump-dom"], url: url)
            }
            for name in ["idle", "busy", "phone"] {
                let size =
                    (try? FileManager.default.attributesOfItem(atPath: "\(Self.screenshots)/\(name).png")[.size] as? Int)
                    ?? 0
                #expect(size > 10_000, "\(name).png: \(size) bytes")
            }
            let status = await harness.engine.status()
            #expect(Self.element("hit-ratio", in: dom)?.value == String(format: "%.6f", status.hitRatio))
            #expect(Self.element("requests", in: dom)?.value == "\(status.requests)")
            #expect(Self.element("node", in: dom)?.text == status.node)
            #expect(dom.contains("<svg id=\"plot-egress\""))
            #expect(Self.element("state", in: dom)?.text == "serving", "the refresh failed in the browser")
        }
    }
}
