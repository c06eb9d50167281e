import CacheNodeTestSupport
import Testing

/// The byte comparison every engine test relies on must find the first wrong byte, not just say "different".
struct ByteMismatchTests {
    @Test func equalBytesHaveNoMismatch() {
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(ByteMismatch(bytes, bytes) == nil)
        #expect(ByteMismatch(bytes[1000...2000], Array(bytes[1000...2000])) == nil)
        #expect(ByteMismatch([UInt8](), [UInt8]()) == nil)
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 200_001, 299_999])
    func firstDifferingOffsetIsFound(offset: Int) {
        let expected = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var actual = expected
        actual[offset] &+= 1
        actual[min(offset + 5, actual.count - 1)] &+= 1
        let mismatch = ByteMismatch(actual, expected)
        #expect(mismatch?.offset == offset)
        #expect(mismatch?.actual == actual[offset])
        #expect(mismatch?.expected == expected[offset])
    }

    @Test func aShorterOrLongerBodyDiffersWhereItEnds() {
        let expected: [UInt8] = Array(repeating: 7, count: 100_000)
        let short = ByteMismatch(expected.prefix(70_000), expected)
        #expect(short?.offset == 70_000)
        #expect(short?.actual == nil)
        #expect(
            short?.description == "bytes differ at offset 70000: the end instead of 0x7 (70000 bytes, expected 100000)"
        )
        #expect(ByteMismatch(expected + [1], expected)?.offset == 100_000)
    }
}
