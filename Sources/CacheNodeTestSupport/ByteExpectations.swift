import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Where two byte sequences first differ; `nil` when they are equal.
package struct ByteMismatch: Sendable, Equatable, CustomStringConvertible {
    package var offset: Int
    package var actualCount: Int
    package var expectedCount: Int
    package var actual: UInt8?
    package var expected: UInt8?

    package init?(_ actual: some Collection<UInt8>, _ expected: some Collection<UInt8>) {
        let left = Array(actual)
        let right = Array(expected)
        guard let offset = Self.firstDifference(left, right) else { return nil }
        self.offset = offset
        self.actualCount = left.count
        self.expectedCount = right.count
        self.actual = offset < left.count ? left[offset] : nil
        self.expected = offset < right.count ? right[offset] : nil
    }

    /// memcmp over 64 KiB chunks, then byte by byte inside the chunk that differs.
    private static func firstDifference(_ left: [UInt8], _ right: [UInt8]) -> Int? {
        let common = min(left.count, right.count)
        let chunk = 65_536
        var start = 0
        while start < common {
            let length = min(chunk, common - start)
            let same = left.withUnsafeBytes { l in
                right.withUnsafeBytes { r in memcmp(l.baseAddress! + start, r.baseAddress! + start, length) == 0 }
            }
            if !same {
                return (start..<(start + length)).first { left[$0] != right[$0] }
            }
            start += length
        }
        return left.count == right.count ? nil : common
    }

    package var description: String {
        let got = actual.map { "0x" + String($0, radix: 16) } ?? "the end"
        let wanted = expected.map { "0x" + String($0, radix: 16) } ?? "the end"
        return
            "bytes differ at offset \(offset): \(got) instead of \(wanted) (\(actualCount) bytes, expected \(expectedCount))"
    }
}

/// Expects two bodies to be the same bytes. Unlike `#expect(a == b)`, a failure on megabytes costs nothing
/// (Swift Testing would compute a collection diff for minutes): it names the first differing offset and the lengths.
package func expectBytes(
    _ actual: some Collection<UInt8>,
    _ expected: some Collection<UInt8>,
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard let mismatch = ByteMismatch(actual, expected) else { return }
    let text = comment.map { "\($0): \(mismatch)" } ?? "\(mismatch)"
    Issue.record(Comment(rawValue: text), sourceLocation: sourceLocation)
}

/// Expects `actual` to be where `expected` begins (a response cut short), with the same cheap failure message.
package func expectPrefix(
    _ actual: some Collection<UInt8>,
    of expected: some Collection<UInt8>,
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let prefix = Array(actual)
    expectBytes(prefix, expected.prefix(prefix.count), comment, sourceLocation: sourceLocation)
    if prefix.count > expected.count {
        Issue.record(
            Comment(rawValue: "\(prefix.count) bytes, more than the \(expected.count) expected"),
            sourceLocation: sourceLocation
        )
    }
}
