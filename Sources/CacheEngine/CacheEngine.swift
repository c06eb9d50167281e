import CMalloc
import CacheProtocol
import CacheNodeCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The cache engine as a `Service`: the cache listener (and with `engine.https` its TLS twin) and the admin listener,
/// the store, fills and origin client.
///
/// Bind port 0 and ask `listenPort()`/`httpsPort()`/`adminPort()` for the ports; `status()` is the `/status` snapshot.
package final class CacheEngine: Service, Sendable {
    package let configuration: NodeConfiguration
    package let store: BlockStore
    let cache: ContentCache
    let counters: EngineCounters
    /// The last 24 hours, a sample a minute, for the status page.
    let history: EngineHistory
    private let listener: HTTPListener
    /// The TLS listener and its certificates, when `engine.https` is set.
    private let secure: SecureListener?
    private let admin: HTTPListener
    private let startedAt = Date()
    private let ready = Mutex<(listen: String, admin: String, https: String?)?>(nil)
    private let logger: Logger
    private let healthClock: @Sendable () -> Date
    /// How often the certificate files are looked at for a change (and the certificate's health judged again).
    private let certificateCheckInterval: Duration
    /// The engine's own threads for disk work: storing blocks (each write is fsynced), reading them for TLS, saving
    /// the history. Started by `run()` and stopped when it returns.
    private let disk: NIOThreadPool
    /// Threads of the disk pool. Each store waits for its fsync, so they are many more than cores (nginx's
    /// `thread_pool` has 32), and none is shared with other blocking work (name lookups use NIO's pool): a fill
    /// waiting to store a block stops reading its origin answer, and a wait longer than the origin read timeout
    /// would cut an answer the origin had sent whole.
    static let diskThreads = 16

    /// Opens the store and prepares both listeners; nothing is bound until `run()`.
    package init(
        configuration: NodeConfiguration,
        allowlist: OriginAllowlist,
        logger: Logger = Logger(label: "cachenode.engine", factory: { _ in SwiftLogNoOpLogHandler() }),
        resolver: any HostResolver = SystemResolver(),
        accessLogPath: String? = nil,
        healthClock: @escaping @Sendable () -> Date = { Date() },
        cacheClock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        certificateCheckInterval: Duration = .seconds(10)
    ) throws(EngineError) {
        let engine = configuration.engine
        guard let listen = Self.split(engine.listen) else { throw .invalidAddress(engine.listen) }
        guard let adminAddress = Self.split(engine.admin) else { throw .invalidAddress(engine.admin) }
        guard engine.blockSizeKB > 0 else { throw .resources("engine.block_size_kb must be positive") }
        if let https = engine.https, Self.split(https.listen) == nil { throw .invalidAddress(https.listen) }
        self.configuration = configuration
        self.logger = logger
        self.healthClock = healthClock
        self.certificateCheckInterval = certificateCheckInterval
        let disk = NIOThreadPool(numberOfThreads: Self.diskThreads)
        self.disk = disk
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
            disk: disk,
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
        // An HTTPS origin that would reach the TLS listener is this cache too: the configured address until the
        // listener is bound, then the bound one (port 0 binds an ephemeral port).
        let boundSecureListen = BoundAddress()
        let secureListen = engine.https.flatMap { ListenAddress($0.listen) }
        let responder = CacheResponder(
            cache: cache,
            policy: { [boundListen, boundSecureListen] in
                OriginPolicy(
                    allowlist: allowlist,
                    listen: boundListen.value.withLock { $0 },
                    secureListen: boundSecureListen.value.withLock { $0 } ?? secureListen
                )
            },
            resolver: resolver,
            counters: counters,
            accessLog: log,
            logger: logger
        )
        // One cap for both cache listeners: max_connections bounds the engine's descriptors and memory.
        let connections = ConnectionCount(limit: engine.maxConnections, counters: counters)
        listener = HTTPListener(
            name: "cache",
            host: listen.host,
            port: listen.port,
            limits: limits,
            responder: responder,
            counters: counters,
            logger: logger,
            connections: connections
        )
        secure = engine.https.map { https in
            SecureListener(
                https,
                configuration: configuration,
                limits: limits,
                responder: responder,
                counters: counters,
                connections: connections,
                disk: disk,
                logger: logger
            )
        }
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
                    counters.refresh(certificate: snapshot.https?.certificate)
                    return counters.registry.emitToString()
                }
            ),
            counters: nil,
            logger: logger
        )
        self.boundListen = boundListen
        self.boundSecureListen = boundSecureListen
        status.engine = self
    }

    private let boundListen: BoundAddress
    private let boundSecureListen: BoundAddress
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
        disk.start()
        var failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await self.recordHistory() }
                if let secure { group.addTask { await self.watchCertificates(secure) } }
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
        try? await disk.shutdownGracefully()
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
                try? await disk.runIfActive {
                    history.save()
                    // Pages freed after a burst (copy buffers, fills) go back to the system, not kept by malloc.
                    _ = malloc_trim(0)
                }
            }
        }
    }

    /// At most one glibc malloc arena per core (at least two). By default every thread that meets contention may get
    /// one, up to eight per core; the disk pool's threads would each keep the buffers they freed, which shows as
    /// resident memory long after a burst. A setting of the whole process: its owner (`cachenode serve`) calls it
    /// once, before any engine thread starts.
    package static func boundMallocArenas() {
        _ = mallopt(M_ARENA_MAX, Int32(max(2, System.coreCount)))
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

    /// The listeners in one group: the first to fail cancels the others (which then stop as at shutdown).
    private func runListeners() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            if let secure { group.addTask { try await secure.listener.run() } }
            group.addTask { try await self.admin.run() }
            group.addTask {
                let port = try await self.listener.boundPort()
                let adminPort = try await self.admin.boundPort()
                var httpsAddress: String?
                if let secure = self.secure {
                    let securePort = try await secure.listener.boundPort()
                    httpsAddress = "\(secure.listener.host):\(securePort)"
                    self.boundSecureListen.value.withLock {
                        $0 = ListenAddress(host: secure.listener.host, port: securePort)
                    }
                }
                self.boundListen.value.withLock { $0 = ListenAddress(host: self.listener.host, port: port) }
                self.ready.withLock {
                    $0 = ("\(self.listener.host):\(port)", "\(self.admin.host):\(adminPort)", httpsAddress)
                }
            }
        }
    }

    /// Looks at the certificate files every `certificateCheckInterval`: a change (a renewal, an ACME client's
    /// deploy, files that appear) is loaded; the certificate's health is judged again each time (expiry moves on).
    private func watchCertificates(_ secure: SecureListener) async {
        while !Task.isCancelled {
            secure.certificates.reloadIfChanged()
            judgeCertificate()
            try? await Task.sleep(for: certificateCheckInterval)
        }
    }

    /// Reads the certificate files now (SIGHUP): new connections take the new certificate, open ones keep theirs; a
    /// failure keeps the previous one and says why. `nil` when `engine.https` is not set.
    @discardableResult
    package func reloadCertificates() -> Result<CertificateStatus, TLSCertificateError>? {
        guard let secure else { return nil }
        let outcome = secure.certificates.reload()
        judgeCertificate()
        return outcome
    }

    /// The TLS listener's state for `/status`; `nil` when `engine.https` is not set.
    func httpsStatus() -> HTTPSStatus? {
        guard let secure else { return nil }
        let bound = ready.withLock { $0?.https }
        return secure.certificates.status(listen: bound ?? secure.listen, requiredNames: secure.requiredNames)
    }

    /// Gives the health rules the certificate's reasons (missing, expired or expiring, names not covered) at now.
    @discardableResult
    private func judgeCertificate() -> HTTPSStatus? {
        guard let https = httpsStatus() else { return nil }
        health.setExtraReasons(CertificateRules.reasons(https, now: healthClock()))
        return https
    }

    /// Starts a graceful shutdown without a service group (tests): stop accepting, finish in-flight responses.
    package func shutdown() {
        listener.shutdown()
        secure?.listener.shutdown()
        admin.shutdown()
    }

    package func listenPort() async throws -> Int { try await listener.boundPort() }

    /// The TLS listener's port once bound; throws when `engine.https` is not set.
    package func httpsPort() async throws -> Int {
        guard let secure else { throw EngineError.resources("engine.https is not set: there is no TLS listener") }
        return try await secure.listener.boundPort()
    }

    package func adminPort() async throws -> Int { try await admin.boundPort() }

    /// The `/status` document; `nil` fields are never left: listen/admin are the configured ones until bound.
    package func status() async -> EngineStatus {
        let values = counters.snapshot
        let addresses =
            ready.withLock { $0 }
            ?? (listen: configuration.engine.listen, admin: configuration.engine.admin, https: nil)
        let served = values.bytesServed
        let drives = Self.withFreeSpace(store.driveStatus())
        let https = judgeCertificate()
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
            issues: issues,
            https: https
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

    /// Whether every listener is bound.
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

/// The TLS listener beside the cache listener: the same responder and cap, its own certificates and handshake deadline.
private struct SecureListener: Sendable {
    let listener: HTTPListener
    let certificates: CertificateStore
    /// The configured `engine.https.listen`, until bound.
    let listen: String
    /// The names clients use in `DOCacheHost`, which the certificate must cover.
    let requiredNames: [String]

    /// Prepares the listener and loads the certificate files once (missing ones: handshakes are refused until they
    /// appear). `https.listen` was checked by the engine.
    init(
        _ https: NodeConfiguration.HTTPS,
        configuration: NodeConfiguration,
        limits: HTTPListener.Limits,
        responder: CacheResponder,
        counters: EngineCounters,
        connections: ConnectionCount,
        disk: NIOThreadPool,
        logger: Logger
    ) {
        let address = CacheEngine.split(https.listen) ?? (host: "0.0.0.0", port: 443)
        let certificates = CertificateStore(files: CertificateFiles(https), logger: logger)
        certificates.reload()
        self.certificates = certificates
        listen = https.listen
        requiredNames = CertificateRules.requiredNames(configuration, hostName: Self.hostName())
        listener = HTTPListener(
            name: "https",
            host: address.host,
            port: address.port,
            limits: limits,
            responder: responder,
            counters: counters,
            logger: logger,
            tls: HTTPListener.TLS(
                certificates: certificates,
                handshakeTimeout: .seconds(Int64(max(1, https.handshakeTimeoutSeconds))),
                disk: disk
            ),
            connections: connections
        )
    }

    /// This machine's host name (`DOCacheHost` without a static address).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
