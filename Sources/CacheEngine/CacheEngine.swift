import CacheProtocol
import CacheNodeCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The cache engine as a `Service`: the cache listener and the admin listener, the store, fills and origin client.
///
/// Bind port 0 and ask `listenPort()`/`adminPort()` for the ports; `status()` is the `/status` snapshot.
package final class CacheEngine: Service, Sendable {
    package let configuration: NodeConfiguration
    package let store: BlockStore
    let cache: ContentCache
    let counters: EngineCounters
    /// The last 24 hours, a sample a minute, for the status page.
    let history: EngineHistory
    private let listener: HTTPListener
    private let admin: HTTPListener
    private let startedAt = Date()
    private let ready = Mutex<(listen: String, admin: String)?>(nil)
    private let logger: Logger

    /// Opens the store and prepares both listeners; nothing is bound until `run()`.
    package init(
        configuration: NodeConfiguration,
        allowlist: OriginAllowlist,
        logger: Logger = Logger(label: "cachenode.engine", factory: { _ in SwiftLogNoOpLogHandler() }),
        resolver: any HostResolver = SystemResolver(),
        accessLogPath: String? = nil,
        healthClock: @escaping @Sendable () -> Date = { Date() },
        cacheClock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws(EngineError) {
        let engine = configuration.engine
        guard let listen = Self.split(engine.listen) else { throw .invalidAddress(engine.listen) }
        guard let adminAddress = Self.split(engine.admin) else { throw .invalidAddress(engine.admin) }
        guard engine.blockSizeKB > 0 else { throw .resources("engine.block_size_kb must be positive") }
        self.configuration = configuration
        self.logger = logger
        let health = EngineHealth(issuesPath: configuration.storage.state + "/issues.json", clock: healthClock)
        self.health = health
        let counters = EngineCounters(health: health)
        self.counters = counters
        let history = EngineHistory(path: configuration.storage.state + "/history.json")
        self.history = history
        do {
            store = try BlockStore(
                drives: configuration.storage.drives.map {
                    BlockStore.Drive(path: $0.path, capacityBytes: $0.sizeBytes)
                },
                blockSize: engine.blockSizeKB * 1024,
                logger: logger
            )
        } catch {
            throw .resources("cache store: \(error)")
        }
        var proxy = engine.upstreamProxy.flatMap(ProxyURL.init)
        if proxy != nil, let file = engine.upstreamProxyPasswordFile {
            proxy?.password = try ProxyPassword.read(file)
        }
        let origin = OriginClient(
            connectTimeout: .seconds(Int64(engine.originConnectTimeoutSeconds)),
            readTimeout: .seconds(Int64(engine.originReadTimeoutSeconds)),
            proxy: proxy,
            origins: allowlist,
            tls: try OriginTLS(caFile: engine.originCAFile)
        )
        cache = ContentCache(
            store: store,
            origin: origin,
            counters: counters,
            logger: logger,
            fillConnections: engine.fillConnections,
            staleIfError: Int64(engine.staleIfErrorSeconds),
            now: cacheClock
        )
        let log: AccessLog
        do {
            log = try AccessLog(path: accessLogPath ?? configuration.storage.state + "/logs/access.log")
        } catch {
            throw .resources("access log: \(error)")
        }
        let limits = HTTPListener.Limits(
            maxConnections: engine.maxConnections,
            idleTimeout: .seconds(Int64(max(1, engine.idleTimeoutSeconds)))
        )
        let boundListen = BoundAddress()
        // An HTTPS origin that would reach the TLS listener is this cache too (the configured address; port 0 binds
        // an ephemeral port no origin names).
        let secureListen = engine.https.flatMap { ListenAddress($0.listen) }
        let responder = CacheResponder(
            cache: cache,
            policy: { [boundListen] in
                OriginPolicy(
                    allowlist: allowlist,
                    listen: boundListen.value.withLock { $0 },
                    secureListen: secureListen
                )
            },
            resolver: resolver,
            counters: counters,
            accessLog: log,
            logger: logger
        )
        listener = HTTPListener(
            name: "cache",
            host: listen.host,
            port: listen.port,
            limits: limits,
            responder: responder,
            counters: counters,
            logger: logger
        )
        let status = StatusSource()
        admin = HTTPListener(
            name: "admin",
            host: adminAddress.host,
            port: adminAddress.port,
            limits: HTTPListener.Limits(maxConnections: 64, idleTimeout: limits.idleTimeout),
            responder: AdminResponder(
                status: { await status.status() },
                page: { whole in
                    guard let snapshot = await status.status() else { return nil }
                    let page = StatusPage(
                        status: snapshot,
                        history: history.samples,
                        egressNow: history.egressNow,
                        busiest: counters.objects.top(10),
                        now: Date()
                    )
                    return whole ? page.document() : page.main()
                },
                metrics: {
                    guard let snapshot = await status.status() else { return nil }
                    counters.refresh(objects: snapshot.objects, drives: snapshot.drives)
                    counters.refresh(health: snapshot.health.state)
                    return counters.registry.emitToString()
                }
            ),
            counters: nil,
            logger: logger
        )
        self.boundListen = boundListen
        status.engine = self
    }

    private let boundListen: BoundAddress
    /// Serving, degraded or failing, from origin outcomes, drives and the hub link.
    package let health: EngineHealth

    /// Calls `observer` on every change of the health state (the hub reporter sends a report at once).
    package func setHealthObserver(_ observer: @escaping @Sendable (NodeHealth) -> Void) {
        health.setObserver(observer)
    }

    /// The outcome of the last report to the hub, for the health rules; `url` nil when the node is not linked.
    package func hubReportOutcome(url: String?, error: String?) {
        health.hubOutcome(url: url, error: error)
    }

    /// Runs both listeners until graceful shutdown; in-flight responses finish first.
    ///
    /// One way out, whether the listeners stopped or failed: the origin fetches end (after a clean stop they finish,
    /// so what they fetched is stored; after a failure they are cancelled), then the origin client and the journals
    /// close, then the history is saved.
    package func run() async throws {
        var failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await self.recordHistory() }
                defer { group.cancelAll() }
                try await runListenersAndFetches()
            }
        } catch {
            failure = error
        }
        await cache.origin.shutdown()
        cache.store.closeJournals()
        history.tick(counters.totals, at: Date())
        history.save()
        if let failure { throw failure }
    }

    /// Samples the counters into the history every 10 seconds and writes it to the state directory every minute.
    private func recordHistory() async {
        history.tick(counters.totals, at: Date())
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(10))
            if Task.isCancelled { break }
            history.tick(counters.totals, at: Date())
            observeDrives()
            ticks += 1
            if ticks % 6 == 0 {
                let history = self.history
                try? await NIOThreadPool.singleton.runIfActive { history.save() }
            }
        }
    }

    /// Returns once no origin fetch is in flight (tests use it before looking at the store); cancelled, at once.
    package func settle() async {
        await cache.idle()
    }

    /// The origin fetches run beside the listeners; once the listeners have stopped, no fetch starts and those in
    /// flight finish. A listener's failure (or cancellation) cancels the fetches.
    private func runListenersAndFetches() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.cache.run() }
            defer { cache.finishFetches() }
            try await runListeners()
        }
    }

    /// Both listeners in one group: the first to fail cancels the other (which then stops as at shutdown).
    private func runListeners() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            group.addTask { try await self.admin.run() }
            group.addTask {
                let port = try await self.listener.boundPort()
                let adminPort = try await self.admin.boundPort()
                self.boundListen.value.withLock { $0 = ListenAddress(host: self.listener.host, port: port) }
                self.ready.withLock {
                    $0 = ("\(self.listener.host):\(port)", "\(self.admin.host):\(adminPort)")
                }
            }
        }
    }

    /// Starts a graceful shutdown without a service group (tests): stop accepting, finish in-flight responses.
    package func shutdown() {
        listener.shutdown()
        admin.shutdown()
    }

    package func listenPort() async throws -> Int { try await listener.boundPort() }

    package func adminPort() async throws -> Int { try await admin.boundPort() }

    /// The `/status` document; `nil` fields are never left: listen/admin are the configured ones until bound.
    package func status() async -> EngineStatus {
        let values = counters.snapshot
        let addresses =
            ready.withLock { $0 } ?? (listen: configuration.engine.listen, admin: configuration.engine.admin)
        let served = values.bytesServed
        let drives = Self.withFreeSpace(store.driveStatus())
        let (health, issues) = observeDrives(drives)
        return EngineStatus(
            version: EngineInfo.version,
            node: configuration.node.name,
            pid: getpid(),
            startedAt: startedAt,
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            listen: addresses.listen,
            admin: addresses.admin,
            blockSizeBytes: store.blockSize,
            objects: store.objectCount,
            requests: values.requests,
            hits: values.hits,
            misses: values.misses,
            partials: values.partials,
            hitRatio: served > 0 ? Double(values.bytesFromCache) / Double(served) : 0,
            bytesFromCache: values.bytesFromCache,
            bytesFromOrigin: values.bytesFromOrigin,
            originErrors: values.originErrors,
            staleServed: values.staleServed,
            revalidations: values.revalidations,
            connections: values.connections,
            peakEgressBitsPerSecond: values.peakEgressBitsPerSecond,
            drives: drives,
            health: health,
            issues: issues
        )
    }

    /// Gives the health rules each drive's state and its file system's free space; returns the health now.
    @discardableResult
    private func observeDrives(_ drives: [EngineStatus.Drive]? = nil) -> (health: NodeHealth, issues: [NodeIssue]) {
        let observed = (drives ?? Self.withFreeSpace(store.driveStatus())).map { drive in
            HealthInputs.Drive(
                path: drive.path,
                writable: drive.writable,
                remainingBytes: max(0, drive.capacityBytes - drive.usedBytes),
                fileSystemFreeBytes: drive.fileSystemFreeBytes
            )
        }
        health.drivesObserved(observed)
        return health.current()
    }

    /// Each drive with the free space of its file system (`statvfs`).
    private static func withFreeSpace(_ drives: [EngineStatus.Drive]) -> [EngineStatus.Drive] {
        drives.map { drive in
            var drive = drive
            var stats = statvfs()
            if statvfs(drive.path, &stats) == 0 {
                drive.fileSystemFreeBytes = Int64(stats.f_bavail) * Int64(stats.f_frsize)
            }
            return drive
        }
    }

    /// Whether both listeners are bound.
    var isReady: Bool { ready.withLock { $0 != nil } }

    /// Splits `host:port` or `[v6]:port`; port 0 binds an ephemeral port.
    static func split(_ text: String) -> (host: String, port: Int)? {
        if let address = ListenAddress(text) { return (address.host, address.port) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), port == 0 else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard IPAddress(host) != nil else { return nil }
        return (host, 0)
    }
}

/// Breaks the engine ⇄ admin responder cycle: the responder asks the engine through this weak reference.
private final class StatusSource: Sendable {
    private struct Weak: Sendable {
        weak var engine: CacheEngine?
    }

    private let reference = Mutex(Weak())

    /// Set once in the engine's initialiser, before any request can arrive.
    var engine: CacheEngine? {
        get { reference.withLock { $0.engine } }
        set { reference.withLock { $0.engine = newValue } }
    }

    func status() async -> EngineStatus? {
        guard let engine, engine.isReady else { return nil }
        return await engine.status()
    }
}

/// The cache listener's bound address, for the loop check of the origin policy.
final class BoundAddress: Sendable {
    let value = Mutex<ListenAddress?>(nil)
}
