import CacheNodeCore
import Foundation
import Synchronization

/// The engine's own recent past, for the status page's plots: one sample a minute for 24 hours, taken from the
/// counters' totals, kept in memory and in `<state>/history.json` so a restart keeps the day (bounded: 1,440 samples,
/// about 150 KiB on disk).
package final class EngineHistory: Sendable {
    /// What happened in one minute.
    package struct Sample: Codable, Equatable, Sendable {
        /// Minutes since the Unix epoch.
        package var minute: Int64
        package var servedFromCache: Int64 = 0
        package var servedFromOrigin: Int64 = 0
        package var originReceived: Int64 = 0
        package var requests: Int64 = 0
        package var originErrors: Int64 = 0
        /// Client connections open at the end of the minute.
        package var connections: Int = 0

        package var served: Int64 { servedFromCache + servedFromOrigin }

        enum CodingKeys: String, CodingKey {
            case minute, requests, connections
            case servedFromCache = "served_from_cache"
            case servedFromOrigin = "served_from_origin"
            case originReceived = "origin_received"
            case originErrors = "origin_errors"
        }
    }

    /// The counters' running totals at one moment.
    package struct Totals: Equatable, Sendable {
        package var servedFromCache: Int64 = 0
        package var servedFromOrigin: Int64 = 0
        package var originReceived: Int64 = 0
        package var requests: Int64 = 0
        package var originErrors: Int64 = 0
        package var connections: Int = 0

        package init() {}
    }

    package static let minutes = 1440

    struct State {
        var samples: [Sample] = []
        /// The totals at the last tick and when it was.
        var last: (totals: Totals, at: Date)?
        /// Bits per second over the last tick.
        var egressNow: Double = 0
    }

    private let state = Mutex(State())
    /// Where the history is kept across restarts; `nil` keeps it in memory only.
    let path: String?

    package init(path: String?) {
        self.path = path
        guard let path, let data = FileManager.default.contents(atPath: path),
            let saved = try? JSONDecoder().decode([Sample].self, from: data)
        else { return }
        // Whatever the file holds, the history stays sorted and bounded.
        let samples = Array(saved.sorted { $0.minute < $1.minute }.suffix(Self.minutes))
        state.withLock { $0.samples = samples }
    }

    /// Adds what happened since the last tick to the current minute's sample. The first tick after a start only notes
    /// the totals (the counters start from zero at each start).
    package func tick(_ totals: Totals, at now: Date) {
        state.withLock { state in
            defer { state.last = (totals, now) }
            guard let last = state.last else { return }
            let minute = Int64(now.timeIntervalSince1970 / 60)
            if state.samples.last?.minute != minute {
                // Older than a day, or ahead of a clock that went back: dropped.
                let oldest = minute - Int64(Self.minutes) + 1
                state.samples.removeAll { $0.minute < oldest || $0.minute >= minute }
                state.samples.append(Sample(minute: minute))
            }
            let index = state.samples.count - 1
            state.samples[index].servedFromCache += max(0, totals.servedFromCache - last.totals.servedFromCache)
            state.samples[index].servedFromOrigin += max(0, totals.servedFromOrigin - last.totals.servedFromOrigin)
            state.samples[index].originReceived += max(0, totals.originReceived - last.totals.originReceived)
            state.samples[index].requests += max(0, totals.requests - last.totals.requests)
            state.samples[index].originErrors += max(0, totals.originErrors - last.totals.originErrors)
            state.samples[index].connections = totals.connections
            let seconds = now.timeIntervalSince(last.at)
            if seconds > 0 {
                let bytes =
                    (totals.servedFromCache + totals.servedFromOrigin)
                    - (last.totals.servedFromCache + last.totals.servedFromOrigin)
                state.egressNow = Double(max(0, bytes)) * 8 / seconds
            }
        }
    }

    /// The samples of the last 24 hours, oldest first.
    package var samples: [Sample] { state.withLock { $0.samples } }

    /// Egress over the last tick, in bits per second.
    package var egressNow: Double { state.withLock { $0.egressNow } }

    /// Writes the history to its file (a temporary file renamed into place); errors are left to the next save.
    package func save() {
        guard let path else { return }
        let samples = self.samples
        guard let data = try? JSONEncoder().encode(samples) else { return }
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o640])
        else { return }
        _ = rename(temporary, path)
    }
}
