import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A clock for freshness tests that moves only when told: the engine's ages and the test origin's `Date` both read
/// it, so a test of "fresh for 5 seconds" holds however slowly a busy machine runs it.
package final class TestClock: Sendable {
    private let seconds: Mutex<Int64>

    /// Starts at the current time.
    package init() {
        seconds = Mutex(Int64(time(nil)))
    }

    /// Seconds since 1970, as the clock stands.
    package var now: Int64 { seconds.withLock { $0 } }

    /// Moves the clock forward.
    package func advance(seconds count: Int64) {
        seconds.withLock { $0 += count }
    }
}
