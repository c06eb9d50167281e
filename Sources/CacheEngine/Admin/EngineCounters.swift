import CacheNodeCore
import CacheProtocol
import CoreMetrics
import Foundation
import Synchronization

/// The engine's counters: read by `/status`, mirrored to swift-metrics for `/metrics` (labels never carry paths).
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
        var connections = 0
        var peakEgressBitsPerSecond: Double = 0
        var windowStart: UInt64 = 0
        var windowBytes: Int64 = 0
    }

    private let values = Mutex(Values())
    private let requestCounters: [Outcome: Counter]
    private let fromCache = Counter(label: "cachenode_served_bytes", dimensions: [("source", "cache")])
    private let fromOrigin = Counter(label: "cachenode_origin_bytes")
    private let originErrorsCounter = Counter(label: "cachenode_origin_errors")
    private let connectionsGauge = Gauge(label: "cachenode_connections")
    private let statusCounters: [Int: Counter]

    package init() {
        var counters: [Outcome: Counter] = [:]
        for outcome in [Outcome.hit, .miss, .partial, .none] {
            counters[outcome] = Counter(label: "cachenode_requests", dimensions: [("cache", outcome.rawValue.lowercased())])
        }
        requestCounters = counters
        var statuses: [Int: Counter] = [:]
        for family in 1...5 {
            statuses[family] = Counter(label: "cachenode_responses", dimensions: [("status", "\(family)xx")])
        }
        statusCounters = statuses
    }

    func request(_ outcome: Outcome, status: Int, cacheBytes: Int64, totalBytes: Int64) {
        requestCounters[outcome]?.increment()
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
        if cached { fromCache.increment(by: Int64(bytes)) }
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

    func originError() {
        originErrorsCounter.increment()
        values.withLock { $0.originErrors += 1 }
    }

    func connectionOpened() {
        let count = values.withLock { values in
            values.connections += 1
            return values.connections
        }
        connectionsGauge.record(count)
    }

    func connectionClosed() {
        let count = values.withLock { values in
            values.connections -= 1
            return values.connections
        }
        connectionsGauge.record(count)
    }

    var connections: Int { values.withLock { $0.connections } }

    var snapshot: Values { values.withLock { $0 } }
}

/// The engine's version and the identity it uses towards origins.
package enum EngineInfo {
    package static let version = CacheNodeVersion.current
    package static let userAgent = "CacheNode/\(version)"
}
