import CacheProtocol
import Testing

@testable import CacheEngine

struct RangeHeaderTests {
    @Test(
        arguments: [
            ("bytes=0-99", 1000, RangeResolution.partial(0...99)),
            ("bytes=100-", 1000, .partial(100...999)),
            ("bytes=-100", 1000, .partial(900...999)),
            ("bytes=-5000", 1000, .partial(0...999)),
            ("bytes=990-5000", 1000, .partial(990...999)),
            ("bytes=999-999", 1000, .partial(999...999)),
            ("bytes=1000-", 1000, .unsatisfiable),
            ("bytes=1000-1001", 1000, .unsatisfiable),
            ("bytes=-0", 1000, .unsatisfiable),
            ("bytes=99999999999999999999999-", 1000, .unsatisfiable),
            ("bytes=0-1,2-3", 1000, .partial(0...3)),
            ("bytes=0-10, 5-20", 1000, .partial(0...20)),
            ("bytes=0-1,5-6", 1000, .full),
            ("bytes=0-1,2000-3000", 1000, .partial(0...1)),
            ("bytes=2000-3000,5000-", 1000, .unsatisfiable),
            ("BYTES = 0-0", 1000, .partial(0...0)),
            ("bytes=0-", 0, .unsatisfiable),
        ] as [(String, Int64, RangeResolution)]
    )
    func resolves(header: String, length: Int64, expected: RangeResolution) throws {
        let parsed = try #require(RangeHeader(header))
        #expect(parsed.resolve(length: length) == expected)
    }

    @Test(arguments: ["bytes=5-1", "items=0-1", "bytes=", "bytes=a-b", "bytes=--1", "0-1", "bytes=1-2-3", "bytes=+1-2"])
    func malformedIsIgnored(header: String) {
        #expect(RangeHeader(header) == nil)
    }

    @Test func knownStart() {
        #expect(RangeHeader("bytes=1048576-2097151")?.knownStart == 1_048_576)
        #expect(RangeHeader("bytes=-10")?.knownStart == nil)
        #expect(RangeHeader("bytes=0-1,5-6")?.knownStart == nil)
    }
}
