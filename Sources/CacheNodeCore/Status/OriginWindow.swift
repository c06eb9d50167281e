import Foundation

/// Origin fetches and their failures over a sliding window, in buckets of ten seconds: what the health rules read.
///
/// A value type; `now` is always given, so tests need no clock.
package struct OriginWindow: Sendable, Equatable {
    struct Bucket: Sendable, Equatable {
        var start: Int
        var attempts = 0
        var failures = 0
        var byReason: [String: Int] = [:]
    }

    package let windowSeconds: Int
    let bucketSeconds: Int
    private var buckets: [Bucket] = []
    private var lastFailure: String?

    package init(windowSeconds: Int = 300) {
        self.windowSeconds = max(1, windowSeconds)
        bucketSeconds = max(1, min(10, self.windowSeconds / 10))
    }

    package mutating func succeeded(at now: Date) {
        withBucket(at: now) { $0.attempts += 1 }
    }

    /// A failed fetch; `reason` is a bounded label (`dns`, `connect`, ...), `detail` the words for the last one.
    package mutating func failed(reason: String, detail: String, at now: Date) {
        withBucket(at: now) { bucket in
            bucket.attempts += 1
            bucket.failures += 1
            bucket.byReason[reason, default: 0] += 1
        }
        lastFailure = detail
    }

    /// The counts of the window that ends at `now`.
    package func inputs(at now: Date) -> HealthInputs.Origin {
        let oldest = Int(now.timeIntervalSince1970) - windowSeconds
        var origin = HealthInputs.Origin(windowSeconds: windowSeconds)
        for bucket in buckets where bucket.start + bucketSeconds > oldest {
            origin.attempts += bucket.attempts
            origin.failures += bucket.failures
            origin.failuresByReason.merge(bucket.byReason, uniquingKeysWith: +)
        }
        origin.lastFailure = origin.failures > 0 ? lastFailure : nil
        return origin
    }

    private mutating func withBucket(at now: Date, _ change: (inout Bucket) -> Void) {
        let second = Int(now.timeIntervalSince1970)
        let start = second - second % bucketSeconds
        let oldest = second - windowSeconds
        buckets.removeAll { $0.start + bucketSeconds <= oldest }
        if buckets.last?.start != start { buckets.append(Bucket(start: start)) }
        change(&buckets[buckets.count - 1])
    }
}
