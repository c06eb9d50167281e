import CacheProtocol
import Testing

@testable import CacheEngine

struct ConditionalRequestTests {
    static let validators = Validators(etag: "\"abc\"", lastModified: "Wed, 21 Oct 2015 07:28:00 GMT")

    @Test(
        arguments: [
            (ConditionalRequest(ifNoneMatch: "\"abc\""), ConditionalRequest.Outcome.notModified),
            (ConditionalRequest(ifNoneMatch: "W/\"abc\""), .notModified),
            (ConditionalRequest(ifNoneMatch: "\"x\", \"abc\""), .notModified),
            (ConditionalRequest(ifNoneMatch: "*"), .notModified),
            (ConditionalRequest(ifNoneMatch: "\"x\""), .serve(honourRange: true)),
            (
                ConditionalRequest(ifNoneMatch: "\"x\"", ifModifiedSince: "Thu, 22 Oct 2015 07:28:00 GMT"),
                .serve(honourRange: true)
            ),
            (ConditionalRequest(ifModifiedSince: "Wed, 21 Oct 2015 07:28:00 GMT"), .notModified),
            (ConditionalRequest(ifModifiedSince: "Thu, 22 Oct 2015 00:00:00 GMT"), .notModified),
            (ConditionalRequest(ifModifiedSince: "Tue, 20 Oct 2015 07:28:00 GMT"), .serve(honourRange: true)),
            (ConditionalRequest(ifModifiedSince: "garbage"), .serve(honourRange: true)),
            (ConditionalRequest(ifRange: "\"abc\""), .serve(honourRange: true)),
            (ConditionalRequest(ifRange: "\"old\""), .serve(honourRange: false)),
            (ConditionalRequest(ifRange: "W/\"abc\""), .serve(honourRange: false)),
            (ConditionalRequest(ifRange: "Wed, 21 Oct 2015 07:28:00 GMT"), .serve(honourRange: true)),
            (ConditionalRequest(ifRange: "Wed, 21 Oct 2015 07:28:01 GMT"), .serve(honourRange: false)),
        ] as [(ConditionalRequest, ConditionalRequest.Outcome)]
    )
    func evaluates(request: ConditionalRequest, expected: ConditionalRequest.Outcome) {
        #expect(request.evaluate(Self.validators) == expected)
    }

    @Test(
        arguments: [
            ("Sun, 06 Nov 1994 08:49:37 GMT", Int64(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
            ("Sun Nov  6 08:49:37 1994", 784_111_777),
        ] as [(String, Int64)]
    )
    func parsesDates(text: String, seconds: Int64) {
        #expect(HTTPDate.parse(text) == seconds)
        #expect(HTTPDate.format(seconds) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
