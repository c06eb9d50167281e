import CacheNodeTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

/// Checks shared by the HTTP caching suites: headers a cache forwards, drops or adds (RFC 9111, RFC 9110 7.6.1).
enum CachingChecks {
    /// Headers that only concern one connection or a proxy: never forwarded to a client.
    static let hopByHop = [
        "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade",
    ]

    /// Expects no hop-by-hop header of the origin's answer: neither the ones named by its `Connection` (`X-Hop`) nor
    /// `Keep-Alive` and `Proxy-*`; a `Transfer-Encoding` can only be the engine's own `chunked`.
    static func expectNoHopByHop(
        _ response: TestResponse,
        _ comment: Comment? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let names = response.headers.map { $0.0.lowercased() }
        #expect(!names.contains("x-hop"), "a header named by Connection was forwarded", sourceLocation: sourceLocation)
        for name in names where hopByHop.contains(name) || name.hasPrefix("proxy-") {
            Issue.record(
                "hop-by-hop \(name) forwarded \(comment.map { "(\($0))" } ?? "")",
                sourceLocation: sourceLocation
            )
        }
        for (name, value) in response.headers where name.lowercased() == "connection" {
            #expect(!value.lowercased().contains("x-hop"), "Connection: \(value)", sourceLocation: sourceLocation)
        }
        for (name, value) in response.headers where name.lowercased() == "transfer-encoding" {
            #expect(value.lowercased() == "chunked", "Transfer-Encoding: \(value)", sourceLocation: sourceLocation)
        }
    }

    /// The `Date` of a response, expected present and an IMF-fixdate; its seconds since 1970.
    @discardableResult
    static func expectDate(
        _ response: TestResponse,
        _ comment: Comment? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int? {
        let dates = response.headers.filter { $0.0.lowercased() == "date" }.map(\.1)
        #expect(
            dates.count == 1,
            "Date headers: \(dates) \(comment.map { "(\($0))" } ?? "")",
            sourceLocation: sourceLocation
        )
        guard let date = dates.first else { return nil }
        let seconds = TestOrigin.epochSeconds(httpDate: date)
        #expect(seconds != nil, "Date is not an IMF-fixdate: \(date)", sourceLocation: sourceLocation)
        return seconds
    }

    /// The `Age` of an answer from the cache, expected present as a whole number of seconds, 0 or more.
    @discardableResult
    static func expectAge(
        _ response: TestResponse,
        _ comment: Comment? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int? {
        guard let text = response.header("Age") else {
            Issue.record(
                "no Age on an answer from the cache \(comment.map { "(\($0))" } ?? "")",
                sourceLocation: sourceLocation
            )
            return nil
        }
        let age = Int(text)
        #expect(age.map { $0 >= 0 } == true, "Age: \(text)", sourceLocation: sourceLocation)
        return age
    }

    /// Whether a header of this name is in the response, whatever its case.
    static func has(_ response: TestResponse, _ name: String) -> Bool {
        response.headers.contains { $0.0.lowercased() == name.lowercased() }
    }
}

extension TestOrigin {
    /// The `If-None-Match` values the origin received for `path`, in order.
    func ifNoneMatchSent(_ path: String) -> [String] {
        requestHeaders(path).flatMap { headers in
            headers.filter { $0.name.lowercased() == "if-none-match" }.map(\.value)
        }
    }
}

extension EngineHarness {
    /// The sum of a metric's samples on the admin port's `/metrics`; 0 when it is missing.
    func metric(_ name: String) async throws -> Double {
        let response = try await TestHTTPClient.get(port: adminPort, "/metrics")
        #expect(response.status == 200)
        return MetricsTests.samples(String(decoding: response.body, as: UTF8.self))
            .filter { $0.name == name }
            .reduce(0) { $0 + $1.value }
    }

    /// Sends every request on its own connection before reading any answer, so that all of them are at the engine at
    /// once (the shared client pool runs fewer side by side), then reads the answers, in the order of `requests`.
    func allAtOnce(_ path: String, _ requests: [[(String, String)]]) async throws -> [TestResponse] {
        let target = target(path)
        let port = port
        let descriptors = try await TestHTTPClient.blocking {
            var opened: [Int32] = []
            do {
                for headers in requests {
                    let fd = try TestHTTPClient.connect(port: port)
                    opened.append(fd)
                    var text = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
                    for (name, value) in headers { text += "\(name): \(value)\r\n" }
                    try TestHTTPClient.send(fd, Array((text + "\r\n").utf8))
                }
            } catch {
                opened.forEach { _ = close($0) }
                throw error
            }
            return opened
        }
        return try await withThrowingTaskGroup(of: (Int, TestResponse).self) { group in
            for (index, fd) in descriptors.enumerated() {
                group.addTask {
                    let response = try await TestHTTPClient.blocking {
                        defer { close(fd) }
                        return try TestHTTPClient.parse(try TestHTTPClient.receiveAll(fd))
                    }
                    return (index, response)
                }
            }
            var responses = [TestResponse?](repeating: nil, count: descriptors.count)
            for try await (index, response) in group { responses[index] = response }
            return responses.map { $0! }
        }
    }
}
