import Synchronization

/// The objects that sent the most bytes to clients, for the status page, in bounded memory: the space-saving
/// algorithm (Metwally et al.) keeps at most `capacity` counters; a new object takes the place of the smallest one and
/// inherits its count as an upper bound of error, so an object that is really among the busiest is never lost.
package final class TopObjects: Sendable {
    package struct Entry: Equatable, Sendable {
        package var key: String
        /// Bytes sent to clients (an overestimate by at most `error`).
        package var bytes: Int64
        package var cacheBytes: Int64
        package var requests: Int64
        package var error: Int64
    }

    private let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    package init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    package func add(_ key: String, bytes: Int64, cacheBytes: Int64) {
        guard bytes > 0 else { return }
        entries.withLock { entries in
            if entries[key] == nil && entries.count >= capacity,
                let smallest = entries.values.min(by: { $0.bytes < $1.bytes })
            {
                entries[smallest.key] = nil
                entries[key] = Entry(key: key, bytes: smallest.bytes, cacheBytes: 0, requests: 0, error: smallest.bytes)
            }
            var entry = entries[key] ?? Entry(key: key, bytes: 0, cacheBytes: 0, requests: 0, error: 0)
            entry.bytes += bytes
            entry.cacheBytes += cacheBytes
            entry.requests += 1
            entries[key] = entry
        }
    }

    /// The `count` busiest objects, most bytes first.
    package func top(_ count: Int) -> [Entry] {
        entries.withLock { entries in
            Array(entries.values.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.key < $1.key }.prefix(count))
        }
    }
}
