import CacheProtocol
import Testing

/// The rules applied to a request head before anything after it is read: method, body framing and `Host`.
struct RequestHeadTests {
    static func head(_ fields: [(String, String)], method: String = "GET", version: (Int, Int) = (1, 1)) -> RequestHead
    {
        RequestHead(
            method: method,
            major: version.0,
            minor: version.1,
            headers: fields.map { (name: $0.0, value: $0.1) }
        )
    }

    @Test(
        arguments: [
            ("GET with Content-Length", head([("Host", "c"), ("Content-Length", "5")]), 400),
            ("GET with chunked", head([("Host", "c"), ("Transfer-Encoding", "chunked")]), 400),
            ("GET with an endless chunk", head([("Host", "c"), ("Transfer-Encoding", "chunked")]), 400),
            ("GET with Transfer-Encoding: identity", head([("Host", "c"), ("Transfer-Encoding", "identity")]), 400),
            ("HEAD with Content-Length", head([("Host", "c"), ("Content-Length", "1")], method: "HEAD"), 400),
            ("HTTP/1.0 GET with a body", head([("Content-Length", "10")], method: "GET", version: (1, 0)), 400),
            ("POST with a body", head([("Host", "c"), ("Content-Length", "1000")], method: "POST"), 405),
            ("PUT with chunked", head([("Host", "c"), ("Transfer-Encoding", "chunked")], method: "PUT"), 405),
        ] as [(String, RequestHead, Int)]
    )
    func aBodyIsRefusedAndClosesTheConnection(_ name: String, head: RequestHead, status: Int) {
        #expect(head.announcesBody, "\(name)")
        #expect(
            head.refusal == RequestRefusal(status: status, reason: head.refusal?.reason ?? "", closesConnection: true),
            "\(name)"
        )
    }

    @Test(
        arguments: [
            ("no Content-Length", head([("Host", "c")])),
            ("Content-Length: 0", head([("Host", "c"), ("Content-Length", "0")])),
            ("Content-Length: 000", head([("Host", "c"), ("Content-Length", "000")])),
        ] as [(String, RequestHead)]
    )
    func noBodyIsServed(_ name: String, head: RequestHead) {
        #expect(!head.announcesBody, "\(name)")
        #expect(head.refusal == nil, "\(name)")
    }

    @Test func otherMethodsWithoutABodyKeepTheConnection() {
        #expect(
            Self.head([("Host", "c")], method: "TRACE").refusal
                == RequestRefusal(status: 405, reason: "only GET and HEAD are served")
        )
    }

    @Test(
        arguments: [
            ("HTTP/1.1 without Host", head([]), "an HTTP/1.1 request needs a Host header"),
            (
                "two Host lines, same value", head([("Host", "c"), ("Host", "c")]),
                "the request has 2 Host headers; one is allowed"
            ),
            (
                "two Host lines, different values", head([("Host", "a"), ("host", "b")]),
                "the request has 2 Host headers; one is allowed"
            ),
            ("Host with userinfo", head([("Host", "user@c")]), "the Host header is not a host[:port]"),
            ("Host with a path", head([("Host", "c/x")]), "the Host header is not a host[:port]"),
            ("Host with a bad port", head([("Host", "c:8o")]), "the Host header is not a host[:port]"),
            ("Host with white space", head([("Host", "a b")]), "the Host header is not a host[:port]"),
            ("Host with an unclosed bracket", head([("Host", "[::1")]), "the Host header is not a host[:port]"),
            ("Host with a bad IPv6 literal", head([("Host", "[::g]")]), "the Host header is not a host[:port]"),
            ("Host with a malformed escape", head([("Host", "a%2")]), "the Host header is not a host[:port]"),
            ("Host that is only a port", head([("Host", ":80")]), "the Host header is not a host[:port]"),
        ] as [(String, RequestHead, String)]
    )
    func hostRulesGiveBadRequest(_ name: String, head: RequestHead, reason: String) {
        #expect(head.refusal == RequestRefusal(status: 400, reason: reason), "\(name)")
    }

    @Test(
        arguments: [
            ("a name", head([("Host", "cache")])),
            ("a name and port", head([("Host", "10.0.0.50:8080")])),
            ("an IPv6 literal", head([("Host", "[fe80::1]:80")])),
            ("an empty port", head([("Host", "cache:")])),
            ("an empty Host", head([("Host", "")])),
            ("a percent-encoding", head([("Host", "a%2Db")])),
            ("HTTP/1.0 without Host", head([], method: "GET", version: (1, 0))),
        ] as [(String, RequestHead)]
    )
    func validHostsAreServed(_ name: String, head: RequestHead) {
        #expect(head.refusal == nil, "\(name)")
    }

    @Test(arguments: [
        ("http://a.example/x", "b.example"),
        ("http://a.example/x", ""),
        ("http://a.example:8080/x", "a.example"),
        ("http://a.example/x", "a.example:8080"),
        ("http://a.example/x?cacheHostOrigin=b.example", "c.example"),
    ])
    func anAbsoluteTargetAndAnotherHostAreRefused(target: String, host: String) {
        #expect(throws: RequestError.self) { try CacheRequest.parse(target: target, hostHeader: host) }
    }

    @Test(arguments: [
        ("http://a.example/x", "a.example"),
        ("http://A.Example./x", "a.example:80"),
        ("http://a.example:8080/x", "A.EXAMPLE:8080"),
    ])
    func anAbsoluteTargetAndItsOwnHostAreServed(target: String, host: String) throws {
        #expect(try CacheRequest.parse(target: target, hostHeader: host).host == "a.example")
    }
}
