import Foundation
import Logging
import Management
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The hub service at fleet size: N nodes enrolled in a new registry report every simulated minute for a simulated
/// day, through the real service over HTTP on loopback. The service's clock is simulated and moves on a minute once
/// every report of the minute is answered, so a day takes as long as its reports do. Prints one line per figure,
/// `name value`, for Benchmarks/hub-fleet: report latency, the registry's size, the time of the fleet page, /v1/fleet, a
/// node's page and /v1/issues. Reports carry health and issues as engines send them; one node in ten has trouble.
///
/// Usage: cachenode-hub-bench [--nodes 2000] [--minutes 1440] [--connections 64] [--directory DIR] [--save-page FILE]
struct Options {
    var nodes = 2000
    var minutes = 1440
    var connections = 64
    var directory = NSTemporaryDirectory() + "cachenode-hub-bench-\(getpid())"
    /// Where to write the fleet page as the day ends, to look at it.
    var savePage: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--nodes": nodes = Int(iterator.next() ?? "") ?? nodes
            case "--minutes": minutes = Int(iterator.next() ?? "") ?? minutes
            case "--connections": connections = Int(iterator.next() ?? "") ?? connections
            case "--directory": directory = iterator.next() ?? directory
            case "--save-page": savePage = iterator.next()
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

/// The service's clock: the benchmark moves it.
final class SimulatedClock: Sendable {
    private let now: Mutex<Date>

    init(_ start: Date) { now = Mutex(start) }

    func read() -> Date { now.withLock { $0 } }
    func set(_ date: Date) { now.withLock { $0 = date } }
}

/// The day's reports. Each connection is a channel handler on the load generator's own event loop, not a task: the
/// nodes are other machines, so they should not take the cooperative threads the service's requests run on. A
/// connection takes the next node of the minute until none is left; the last connection to run out moves the clock
/// on a minute and starts them all again.
final class DayRun: Sendable {
    struct MinuteStarted {}

    let fleet: [SimulatedNode]
    let minutes: Int
    let connections: Int
    let clock: SimulatedClock
    let start: Date
    let began = ContinuousClock.now
    let done: EventLoopPromise<Void>
    private let next = Atomic<Int>(0)
    private let minute = Atomic<Int>(0)
    private let idle = Atomic<Int>(0)
    private let channels = Mutex<[any Channel]>([])
    let results = Mutex<(latencies: [Double], failures: Int, finished: Int)>(([], 0, 0))

    init(
        fleet: [SimulatedNode],
        minutes: Int,
        connections: Int,
        clock: SimulatedClock,
        start: Date,
        done: EventLoopPromise<Void>
    ) {
        self.fleet = fleet
        self.minutes = minutes
        self.connections = connections
        self.clock = clock
        self.start = start
        self.done = done
        clock.set(start.addingTimeInterval(30))
    }

    func add(_ channel: any Channel) { channels.withLock { $0.append(channel) } }

    func startMinute() {
        for channel in channels.withLock({ $0 }) { channel.pipeline.fireUserInboundEventTriggered(MinuteStarted()) }
    }

    /// The minute and the node a connection reports for next; `nil` once the minute has no node left.
    func take() -> (minute: Int, node: SimulatedNode)? {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return index < fleet.count ? (minute.load(ordering: .acquiring), fleet[index]) : nil
    }

    var isOver: Bool { minute.load(ordering: .acquiring) >= minutes }

    /// A connection found no node left; the last one moves the clock on and starts the next minute.
    func ranOut() {
        guard idle.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == connections else { return }
        idle.store(0, ordering: .relaxed)
        let following = minute.load(ordering: .relaxed) + 1
        next.store(0, ordering: .relaxed)
        clock.set(start.addingTimeInterval(Double(following * 60 + 30)))
        minute.store(following, ordering: .releasing)
        if following % 60 == 0 {
            log(
                "simulated hour \(following / 60) done after \(String(format: "%.0f", milliseconds(ContinuousClock.now - began) / 1000)) s"
            )
        }
        startMinute()
    }

    func finish(_ latencies: [Double], failures: Int) {
        let all = results.withLock { results in
            results.latencies += latencies
            results.failures += failures
            results.finished += 1
            return results.finished == connections
        }
        if all { done.succeed() }
    }
}

/// One connection of the day: sends a report, waits for its answer, sends the next.
final class ReportSender: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let run: DayRun
    var latencies: [Double] = []
    var failures = 0
    var sent = NIODeadline.now()
    var status = HTTPResponseStatus.ok

    init(run: DayRun) { self.run = run }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DayRun.MinuteStarted { sendNext(context) } else { context.fireUserInboundEventTriggered(event) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = head.status
        case .body: break
        case .end:
            latencies.append(Double((NIODeadline.now() - sent).nanoseconds) / 1e6)
            if status != .ok { failures += 1 }
            sendNext(context)
        }
    }

    private func sendNext(_ context: ChannelHandlerContext) {
        if run.isOver {
            run.finish(latencies, failures: failures)
            return
        }
        guard let (minute, node) = run.take() else {
            run.ranOut()
            return
        }
        let body = node.report(minute: minute)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "127.0.0.1")
        headers.add(name: "Authorization", value: "Bearer \(node.token)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        sent = .now()
        context.write(
            wrapOutboundOut(
                .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/reports", headers: headers))
            ),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// A node's running totals at a minute, as its engine would report them: traffic follows the time of day, and each
/// node's engine restarts once in the day (its totals start again from zero).
struct SimulatedNode {
    var index: Int
    var name: String
    var token: String

    static let shape: [Double] = {
        var total = 0.0
        return (0..<1440).map { minute in
            total += 0.3 + 0.7 * (sin(2 * Double.pi * (Double(minute) / 1440 - 0.25)) + 1) / 2
            return total
        }
    }()

    /// The cumulative shape up to `minute` (any day).
    static func cumulative(_ minute: Int) -> Double {
        Double(minute / 1440) * shape[1439] + shape[minute % 1440]
    }

    func report(minute: Int) -> String {
        let perMinute = 50e6 + Double(index % 97) * 10e6  // 50 MB to 1 GB per minute at the day's peak
        let restart = (index * 7919) % 1440
        let uptime: Int
        let traffic: Double
        if minute >= restart {
            uptime = (minute - restart) * 60 + 30
            traffic = perMinute * (Self.cumulative(minute) - Self.cumulative(restart))
        } else {
            uptime = 86_400 + minute * 60
            traffic = perMinute * (Self.cumulative(minute) + 500)
        }
        let hitRatio = 0.7 + 0.25 * Double((index * 61) % 100) / 100
        let fromCache = Int64(traffic * hitRatio)
        let fromOrigin = Int64(traffic) - fromCache
        let disk = 200_000_000_000 + Int64(index) * 1_000_000_000 + Int64(minute) * 10_000_000
        let peak = (perMinute * 8 / 60 * 1.5).rounded()
        let health = health(minute: minute)
        return """
            {"node":"\(name)","version":"0.1.0","uptime_s":\(uptime),"health":"\(health.word)",\
            "state":"\(health.state)","state_since":"\(health.since)","reasons":\(health.reasons),"issues":\(health.issues),\
            "bytes_from_cache":\(fromCache),"bytes_from_origin":\(fromOrigin),"hit_ratio":\(hitRatio),\
            "disk_used_bytes":{"/srv/cache":\(disk)},"peak_egress_bps":\(peak),"interval_s":60}
            """
    }

    /// One node in ten has trouble: 30 minutes of failing origin fetches every six hours (degraded, one reason, an
    /// issue that opens and ends); its ended issues stay in its reports, as an engine sends its recent ones.
    func health(minute: Int) -> (word: String, state: String, since: String, reasons: String, issues: String) {
        guard index % 10 == 0 else { return ("ok", "serving", Self.iso(0), "[]", "[]") }
        let episode = 30
        var start = (360 - (index * 37) % 360) % 360
        var issues: [String] = []
        var open: Int?
        var lastEnd = 0
        while start <= minute {
            let ended = minute >= start + episode
            if ended { lastEnd = start + episode } else { open = start }
            issues.append(
                #"{"kind":"origin_errors","severity":"degraded","detail":"\#(Self.detail)","action":"\#(Self.action)","#
                    + #""start":"\#(Self.iso(start))""# + (ended ? #","end":"\#(Self.iso(start + episode))"}"# : "}")
            )
            start += 360
        }
        let list = "[" + issues.suffix(20).joined(separator: ",") + "]"
        guard let open else { return ("ok", "serving", Self.iso(lastEnd), "[]", list) }
        let reason =
            #"[{"kind":"origin_errors","severity":"degraded","detail":"\#(Self.detail)","action":"\#(Self.action)","#
            + #""since":"\#(Self.iso(open))"}]"#
        return ("degraded", "degraded", Self.iso(open), reason, list)
    }

    static let detail = "12 of 140 origin fetches failed in the last 5 minutes (timeout 12); last: origin timed out"
    static let action = "see the engine's log for the origins that fail; clients retry them from the CDN"

    /// The day's minutes in ISO 8601, made once: the load generator should spend its time sending.
    static let isoMinutes: [String] = {
        let formatter = ISO8601DateFormatter()
        return (0..<(3 * 1440)).map {
            formatter.string(from: Date(timeIntervalSince1970: 1_800_000_000 + Double($0 * 60)))
        }
    }()

    static func iso(_ minute: Int) -> String { isoMinutes[min(max(0, minute), isoMinutes.count - 1)] }
}

typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

func connect(port: Int) async throws -> Connection {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
}

/// One request and its whole answer on a connection that stays open.
func exchange(
    _ responses: inout NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
    _ writer: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
    _ method: HTTPMethod,
    _ uri: String,
    token: String,
    body: String? = nil
) async throws -> (status: HTTPResponseStatus, bytes: Int) {
    var headers = HTTPHeaders()
    headers.add(name: "Host", value: "127.0.0.1")
    headers.add(name: "Authorization", value: "Bearer \(token)")
    if let body {
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
    }
    var parts: [HTTPClientRequestPart] = [
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers))
    ]
    if let body { parts.append(.body(.byteBuffer(ByteBuffer(string: body)))) }
    parts.append(.end(nil))
    try await writer.write(contentsOf: parts)
    var status = HTTPResponseStatus.internalServerError
    var bytes = 0
    while let part = try await responses.next() {
        switch part {
        case .head(let head): status = head.status
        case .body(let chunk): bytes += chunk.readableBytes
        case .end: return (status, bytes)
        }
    }
    throw ChannelError.eof
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ sorted: [Double], _ share: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * share))]
}

func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
}

func log(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func benchmark(_ options: Options) async throws {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: options.directory) }
    let path = options.directory + "/registry.sqlite"
    let registry = try Registry(path: path)
    let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15 08:00 UTC: any fixed day
    let clock = SimulatedClock(start)
    let adminToken = "bench-admin"
    let service = HubService(
        registry: registry,
        adminToken: adminToken,
        logger: Logger(label: "hub-bench", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: { clock.read() }
    )
    let (ports, bound) = AsyncStream.makeStream(of: Int.self)
    let server = Task { try await service.run(host: "127.0.0.1", port: 0) { bound.yield($0) } }
    var portIterator = ports.makeAsyncIterator()
    guard let port = await portIterator.next() else { fatalError("the hub service did not start") }

    // The fleet: created in the registry, enrolled over HTTP as a node enrols.
    try registry.createHub("bench", now: start)
    var nodes: [SimulatedNode] = []
    do {
        let connection = try await connect(port: port)
        try await connection.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            for index in 0..<options.nodes {
                let name = "node-\(index)"
                let key = try registry.createNode(name, hub: "bench", now: start)
                let body = #"{"hub":"bench","node":"\#(name)","key":"\#(key)"}"#
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "127.0.0.1")
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                try await outbound.write(contentsOf: [
                    .head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/enrol", headers: headers)),
                    .body(.byteBuffer(ByteBuffer(string: body))), .end(nil),
                ])
                var answer = ByteBuffer()
                while let part = try await responses.next() {
                    if case .body(var chunk) = part { answer.writeBuffer(&chunk) }
                    if case .end = part { break }
                }
                let fields = try JSONDecoder().decode([String: String].self, from: Data(answer.readableBytesView))
                nodes.append(SimulatedNode(index: index, name: name, token: fields["token"] ?? ""))
            }
        }
    }
    let fleet = nodes

    // The day: each minute every node reports once, over `connections` connections at once.
    let senders = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let run = DayRun(
        fleet: fleet,
        minutes: options.minutes,
        connections: options.connections,
        clock: clock,
        start: start,
        done: senders.next().makePromise()
    )
    for _ in 0..<options.connections {
        let channel = try await ClientBootstrap(group: senders)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ReportSender(run: run))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        run.add(channel)
    }
    run.startMinute()
    try await run.done.futureResult.get()
    let elapsed = milliseconds(ContinuousClock.now - run.began) / 1000
    let latencies = run.results.withLock { ($0.latencies.sorted(), $0.failures) }
    try await senders.shutdownGracefully()

    // The views, as at the end of the day: five of each, the median. The first page sums the whole day's rollups; the
    // next ones only the rows of the last minutes (the registry keeps the sums of settled periods).
    var pageTimes: [Double] = []
    var fleetTimes: [Double] = []
    var nodePageTimes: [Double] = []
    var issuesTimes: [Double] = []
    var issuesBytes = 0
    var pageBytes = 0
    var fleetBytes = 0
    do {
        let connection = try await connect(port: port)
        try await connection.executeThenClose { inbound, outbound in
            var responses = inbound.makeAsyncIterator()
            for _ in 0..<5 {
                var sent = ContinuousClock.now
                let page = try await exchange(&responses, outbound, .GET, "/", token: adminToken)
                pageTimes.append(milliseconds(ContinuousClock.now - sent))
                pageBytes = page.bytes
                sent = ContinuousClock.now
                let json = try await exchange(&responses, outbound, .GET, "/v1/fleet", token: adminToken)
                fleetTimes.append(milliseconds(ContinuousClock.now - sent))
                fleetBytes = json.bytes
                sent = ContinuousClock.now
                let node = try await exchange(&responses, outbound, .GET, "/node/bench/node-0", token: adminToken)
                nodePageTimes.append(milliseconds(ContinuousClock.now - sent))
                sent = ContinuousClock.now
                let issues = try await exchange(&responses, outbound, .GET, "/v1/issues", token: adminToken)
                issuesTimes.append(milliseconds(ContinuousClock.now - sent))
                issuesBytes = issues.bytes
                guard page.status == .ok, json.status == .ok, node.status == .ok, issues.status == .ok else {
                    fatalError(
                        "the fleet views answered \(page.status), \(json.status), \(node.status), \(issues.status)"
                    )
                }
            }
        }
    }
    server.cancel()
    if let savePage = options.savePage {
        try FleetPage(view: FleetView(registry: registry, now: clock.read())).document().write(
            toFile: savePage,
            atomically: true,
            encoding: .utf8
        )
    }

    let registryBytes = fileSize(path) + fileSize(path + "-wal")
    let rows = try registry.rowCounts()
    print("nodes \(options.nodes)")
    print("simulated_minutes \(options.minutes)")
    print("connections \(options.connections)")
    print("reports_sent \(latencies.0.count)")
    print("reports_failed \(latencies.1)")
    print("elapsed_s \(String(format: "%.1f", elapsed))")
    print("reports_per_s \(String(format: "%.0f", Double(latencies.0.count) / elapsed))")
    print("report_latency_p50_ms \(String(format: "%.2f", percentile(latencies.0, 0.5)))")
    print("report_latency_p99_ms \(String(format: "%.2f", percentile(latencies.0, 0.99)))")
    print("registry_mib \(String(format: "%.1f", Double(registryBytes) / 1_048_576))")
    print("registry_wal_mib \(String(format: "%.1f", Double(fileSize(path + "-wal")) / 1_048_576))")
    print("registry_bytes_per_node \(registryBytes / Int64(max(1, options.nodes)))")
    print("rows_minute \(rows.minutes)")
    print("rows_hour \(rows.hours)")
    print("fleet_page_first_ms \(String(format: "%.1f", pageTimes[0]))")
    print("fleet_page_ms \(String(format: "%.1f", pageTimes.sorted()[2]))")
    print("fleet_page_kib \(pageBytes / 1024)")
    print("fleet_json_ms \(String(format: "%.1f", fleetTimes.sorted()[2]))")
    print("fleet_json_kib \(fleetBytes / 1024)")
    print("node_page_ms \(String(format: "%.1f", nodePageTimes.sorted()[2]))")
    print("issues_json_ms \(String(format: "%.1f", issuesTimes.sorted()[2]))")
    print("issues_json_kib \(issuesBytes / 1024)")
}

try await benchmark(Options(CommandLine.arguments))
