import CacheNodeCore
import CacheProtocol
import Foundation
import Prometheus
import Synchronization

/// The engine's counters: read by `/status`, and kept as Prometheus metrics for `/metrics`: names with the
/// `cachenode_` prefix and base units, `_total` counters, HELP for each, labels from small fixed sets (never a path).
package final class EngineCounters: Sendable {
    /// How a request was served, for the access log and the counters.
    package enum Outcome: String, Sendable {
        case hit = "HIT"
        case miss = "MISS"
        case partial = "PARTIAL"
        case none = "-"
    }

    struct Values {
        var requests: Int64 = 0
        var hits: Int64 = 0
        var misses: Int64 = 0
        var partials: Int64 = 0
        var bytesFromCache: Int64 = 0
        var bytesFromOrigin: Int64 = 0
        var bytesServed: Int64 = 0
        var originErrors: Int64 = 0
        var staleServed: Int64 = 0
        var revalidations: Int64 = 0
        var connections = 0
        var peakEgressBitsPerSecond: Double = 0
        var windowStart: UInt64 = 0
        var windowBytes: Int64 = 0
    }

    private let values = Mutex(Values())
    /// What `/metrics` shows.
    package let registry = PrometheusCollectorRegistry()
    /// The objects that sent the most bytes, for the status page.
    package let objects = TopObjects()
    private let requestCounters: [Outcome: Counter]
    private let schemeCounters: [RequestScheme: Counter]
    private let handshakeFailures: [HandshakeFailure: Counter]
    private let statusCounters: [Int: Counter]
    private let servedFromCache: Counter
    private let servedFromOrigin: Counter
    private let fromOrigin: Counter
    private let originErrorsCounters: [String: Counter]
    private let healthGauge: Gauge
    private let staleServedCounter: Counter
    private let revalidationCounters: [Revalidation: Counter]
    /// Origin outcomes feed the node's health.
    package let health: EngineHealth
    private let connectionsGauge: Gauge

    package init(health: EngineHealth) {
        self.health = health
        var counters: [Outcome: Counter] = [:]
        let requests = Self.metric(
            "requests_total",
            "Client requests answered, by how the cache served them: hit (every block stored), miss (none), partial "
                + "(some), none (refused or failed before the cache was asked)."
        )
        for outcome in [Outcome.hit, .miss, .partial, .none] {
            let label = outcome == .none ? "none" : outcome.rawValue.lowercased()
            counters[outcome] = registry.makeCounter(descriptor: requests, labels: [("cache", label)])
        }
        requestCounters = counters
        let schemes = Self.metric(
            "scheme_requests_total",
            "Client requests answered, by the listener they arrived on: http (engine.listen) or https (engine.https)."
        )
        var byScheme: [RequestScheme: Counter] = [:]
        for scheme in RequestScheme.allCases {
            byScheme[scheme] = registry.makeCounter(descriptor: schemes, labels: [("scheme", scheme.rawValue)])
        }
        schemeCounters = byScheme
        let handshakes = Self.metric(
            "tls_handshake_failures_total",
            "TLS connections that ended before their handshake completed, by reason: refused (no certificate to "
                + "serve), timeout (engine.https.handshake_timeout_s), failed (no common version or cipher, not TLS)."
        )
        var byReason: [HandshakeFailure: Counter] = [:]
        for reason in HandshakeFailure.allCases {
            byReason[reason] = registry.makeCounter(descriptor: handshakes, labels: [("reason", reason.rawValue)])
        }
        handshakeFailures = byReason
        var statuses: [Int: Counter] = [:]
        let responses = Self.metric("responses_total", "Client responses by status class.")
        for family in 1...5 {
            statuses[family] = registry.makeCounter(descriptor: responses, labels: [("code", "\(family)xx")])
        }
        statusCounters = statuses
        let served = Self.metric(
            "served_bytes_total",
            "Body bytes sent to clients, by where they came from: cache (stored blocks) or origin (blocks being filled)."
        )
        servedFromCache = registry.makeCounter(descriptor: served, labels: [("source", "cache")])
        servedFromOrigin = registry.makeCounter(descriptor: served, labels: [("source", "origin")])
        fromOrigin = registry.makeCounter(
            descriptor: Self.metric(
                "origin_received_bytes_total",
                "Body bytes received from origins to fill the cache (each block once, whatever the number of clients)."
            )
        )
        let originErrors = Self.metric(
            "origin_errors_total",
            "Origin fetches that failed, by reason: dns (the name does not resolve), connect (refused, reset), timeout, "
                + "status (5xx), short_body, changed (ETag or length), invalid (an answer the cache cannot use), "
                + "proxy_auth (the upstream proxy refused the engine)."
        )
        var byOriginReason: [String: Counter] = [:]
        for reason in OriginFailure.shortDescriptions {
            byOriginReason[reason] = registry.makeCounter(descriptor: originErrors, labels: [("reason", reason)])
        }
        originErrorsCounters = byOriginReason
        healthGauge = registry.makeGauge(
            descriptor: Self.metric(
                "health_state",
                "The node's health: 0 serving, 1 degraded (some origin fetches fail, a drive, the hub), 2 failing "
                    + "(no origin fetch succeeds, or no drive takes blocks). /health gives the reasons."
            )
        )
        connectionsGauge = registry.makeGauge(descriptor: Self.metric("client_connections", "Open client connections."))
        staleServedCounter = registry.makeCounter(
            descriptor: Self.metric(
                "stale_served_total",
                "Answers from a stored object past its freshness because its origin could not be reached to "
                    + "revalidate it (engine.stale_if_error_s)."
            )
        )
        let revalidations = Self.metric(
            "revalidations_total",
            "Conditional requests for stale stored objects, by result: not_modified (kept and refreshed), changed (a "
                + "new version replaced it), gone (the origin no longer gives a storable answer), failed (no answer)."
        )
        var byResult: [Revalidation: Counter] = [:]
        for result in Revalidation.allCases {
            byResult[result] = registry.makeCounter(descriptor: revalidations, labels: [("result", result.rawValue)])
        }
        revalidationCounters = byResult
        registry.makeGauge(
            descriptor: Self.metric("build_info", "Always 1; the engine's version in a label."),
            labels: [("version", EngineInfo.version)]
        ).set(Int64(1))
        registry.makeGauge(
            descriptor: Self.metric("start_time_seconds", "When the engine started, in seconds since the Unix epoch.")
        ).set(Date().timeIntervalSince1970)
    }

    /// A metric's name (`cachenode_` and `name`, which ends in its unit) and its HELP text.
    static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "cachenode", metricName: name, unitName: "", helpText: help)
    }

    /// Sets the metrics that are read off the store at scrape time: objects and each drive's capacity, use and state.
    func refresh(objects: Int, drives: [EngineStatus.Drive]) {
        registry.makeGauge(descriptor: Self.metric("cache_objects", "Objects with at least one stored block."))
            .set(Int64(objects))
        let capacity = Self.metric("drive_capacity_bytes", "A cache drive's configured size.")
        let used = Self.metric("drive_used_bytes", "Bytes of stored blocks on a cache drive.")
        let writable = Self.metric(
            "drive_writable",
            "1 while a cache drive takes new blocks, 0 once a write failed (full, read-only)."
        )
        let free = Self.metric(
            "drive_filesystem_free_bytes",
            "Bytes free on a cache drive's file system (the cache also needs its size minus its use there)."
        )
        for drive in drives {
            let labels = [("drive", drive.path)]
            registry.makeGauge(descriptor: capacity, labels: labels).set(drive.capacityBytes)
            registry.makeGauge(descriptor: used, labels: labels).set(drive.usedBytes)
            registry.makeGauge(descriptor: writable, labels: labels).set(Int64(drive.writable ? 1 : 0))
            if let bytes = drive.fileSystemFreeBytes { registry.makeGauge(descriptor: free, labels: labels).set(bytes) }
        }
    }

    func request(_ outcome: Outcome, status: Int, scheme: RequestScheme, cacheBytes: Int64, totalBytes: Int64) {
        requestCounters[outcome]?.increment()
        schemeCounters[scheme]?.increment()
        statusCounters[max(1, min(5, status / 100))]?.increment()
        values.withLock { values in
            values.requests += 1
            switch outcome {
            case .hit: values.hits += 1
            case .miss: values.misses += 1
            case .partial: values.partials += 1
            case .none: break
            }
            values.bytesFromCache += cacheBytes
        }
    }

    /// Bytes written to clients, for the peak egress rate (one-second windows).
    func served(_ bytes: Int, fromCache cached: Bool) {
        (cached ? servedFromCache : servedFromOrigin).increment(by: Int64(bytes))
        let now = DispatchTime.now().uptimeNanoseconds
        values.withLock { values in
            values.bytesServed += Int64(bytes)
            if now - values.windowStart >= 1_000_000_000 {
                let seconds = Double(now - values.windowStart) / 1e9
                if values.windowStart != 0 {
                    values.peakEgressBitsPerSecond = max(
                        values.peakEgressBitsPerSecond,
                        Double(values.windowBytes * 8) / max(seconds, 1)
                    )
                }
                values.windowStart = now
                values.windowBytes = 0
            }
            values.windowBytes += Int64(bytes)
        }
    }

    func addFromOrigin(_ bytes: Int) {
        fromOrigin.increment(by: Int64(bytes))
        values.withLock { $0.bytesFromOrigin += Int64(bytes) }
    }

    /// An origin fetch that failed: counted by reason, and seen by the health rules.
    func originError(_ failure: OriginFailure) {
        originErrorsCounters[failure.shortDescription]?.increment()
        values.withLock { $0.originErrors += 1 }
        health.originFailed(failure)
    }

    /// An origin fetch that got a usable answer (any status but 5xx).
    func originSucceeded() {
        health.originSucceeded()
    }

    /// How the revalidation of a stale object ended.
    enum Revalidation: String, CaseIterable {
        case notModified = "not_modified"
        case changed
        case gone
        case failed
    }

    func revalidated(_ result: Revalidation) {
        revalidationCounters[result]?.increment()
        values.withLock { $0.revalidations += 1 }
    }

    /// An answer from a stale object while its origin could not be reached.
    func servedStale() {
        staleServedCounter.increment()
        values.withLock { $0.staleServed += 1 }
    }

    /// A TLS connection that ended before its handshake completed.
    func handshakeFailed(_ reason: HandshakeFailure) {
        handshakeFailures[reason]?.increment()
    }

    /// Sets the served certificate's expiry (at scrape time); no sample while none is served.
    func refresh(certificate: CertificateStatus?) {
        guard let certificate else { return }
        registry.makeGauge(
            descriptor: Self.metric(
                "certificate_expiry_timestamp_seconds",
                "When the certificate the TLS listener serves expires, in seconds since the Unix epoch."
            )
        ).set(certificate.notAfter.timeIntervalSince1970)
    }

    /// Sets the health gauge (at scrape time).
    func refresh(health state: HealthState) {
        healthGauge.set(Int64(state.level))
    }

    func connectionOpened() {
        let count = values.withLock { values in
            values.connections += 1
            return values.connections
        }
        connectionsGauge.set(Int64(count))
    }

    func connectionClosed() {
        let count = values.withLock { values in
            values.connections -= 1
            return values.connections
        }
        connectionsGauge.set(Int64(count))
    }

    var connections: Int { values.withLock { $0.connections } }

    /// The running totals, for the history's samples.
    var totals: EngineHistory.Totals {
        values.withLock { values in
            var totals = EngineHistory.Totals()
            totals.servedFromCache = values.bytesFromCache
            totals.servedFromOrigin = max(0, values.bytesServed - values.bytesFromCache)
            totals.originReceived = values.bytesFromOrigin
            totals.requests = values.requests
            totals.originErrors = values.originErrors
            totals.connections = values.connections
            return totals
        }
    }

    var snapshot: Values { values.withLock { $0 } }
}

/// The engine's version and the identity it uses towards origins.
package enum EngineInfo {
    package static let version = CacheNodeVersion.current
    package static let userAgent = "CacheNode/\(version)"
}
