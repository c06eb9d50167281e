import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension HTTPDate {
    /// The last second formatted, shared: a busy node formats the date once a second, not once an answer.
    private static let formatted = Mutex<(seconds: Int64, text: String)>((-1, ""))

    /// The current time as an IMF-fixdate, for `Date`.
    package static func now() -> String {
        let seconds = Int64(time(nil))
        return formatted.withLock { cached in
            if cached.seconds != seconds { cached = (seconds, format(seconds)) }
            return cached.text
        }
    }
}
