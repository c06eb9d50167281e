import CacheNodeTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

/// An origin answer to a first request for `/answer.bin`, and what the client must get.
struct RelayedAnswer: Sendable, CustomTestStringConvertible {
    let name: String
    let status: Int
    /// Headers the client's answer must carry, as the origin sent them.
    let headers: [(String, String)]
    /// Sets the origin up; returns the body the client must get.
    let prepare: @Sendable (TestOrigin) -> [UInt8]

    var testDescription: String { name }
}

/// How a failed first fetch reaches the client.
enum FirstFetchFailure: String, Sendable, CaseIterable {
    /// The origin answers 503 "busy".
    case busy
    /// The origin closes each connection without answering.
    case refused
    /// Nothing listens on the origin's port.
    case closedPort
    /// The origin never answers.
    case hanging
}

/// Answers that are not stored (or not yet): relayed as the origin sent them, one origin request per client request.
@Suite
struct PassThroughTests {
    static let path = "/answer.bin"

    static let relayedAnswers: [RelayedAnswer] = [
        RelayedAnswer(name: "404 with max-age=60", status: 404, headers: []) { origin in
            origin.setFault(
                .respond(status: 404, headers: [("Cache-Control", "max-age=60")], body: "not found here"),
                for: path
            )
            return Array("not found here".utf8)
        },
        RelayedAnswer(name: "410", status: 410, headers: []) { origin in
            origin.setFault(.respond(status: 410, body: "gone for good"), for: path)
            return Array("gone for good".utf8)
        },
        RelayedAnswer(name: "302", status: 302, headers: [("Location", "http://elsewhere.example/new.bin")]) { origin in
            origin.setFault(
                .respond(status: 302, headers: [("Location", "http://elsewhere.example/new.bin")], body: "moved"),
                for: path
            )
            return Array("moved".utf8)
        },
        RelayedAnswer(name: "200 with Vary: User-Agent", status: 200, headers: [("Vary", "User-Agent")]) { origin in
            origin.add(path, length: 30_000, seed: 71, headers: [("Vary", "User-Agent")])
        },
        RelayedAnswer(name: "200 with Content-Encoding: gzip", status: 200, headers: [("Content-Encoding", "gzip")]) {
            origin in
            let bytes = origin.add(path, length: 30_000, seed: 73)
            origin.setFault(.contentEncoding("gzip"), for: path)
            return TestOrigin.encoded(bytes)
        },
    ]

    /// Whatever the origin answers a first request (error, redirect, Vary, gzip), the client gets it for one request.
    @Test(arguments: relayedAnswers)
    func firstRequestCostsOneOriginRequestWhateverTheAnswer(_ answer: RelayedAnswer) async throws {
        try await EngineHarness.with { harness in
            let body = answer.prepare(harness.origin)
            let response = try await harness.get(Self.path)
            #expect(response.status == answer.status)
            expectBytes(response.body, body)
            for (name, value) in answer.headers {
                #expect(response.header(name) == value, "\(name)")
            }
            #expect(harness.origin.requests(Self.path) == 1)
        }
    }

    /// `no-store` and `private` answers are never kept: each client request is exactly one origin request.
    @Test(arguments: ["no-store", "private", "no-store, max-age=3600", "private, max-age=3600"])
    func neverStoredAnswersAreOneOriginRequestEach(cacheControl: String) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add(
                Self.path,
                length: 30_000,
                seed: 75,
                headers: [("Cache-Control", cacheControl)]
            )
            for index in 1...2 {
                let response = try await harness.get(Self.path)
                #expect(response.status == 200, "request \(index)")
                expectBytes(response.body, bytes, "request \(index)")
                #expect(harness.origin.requests(Self.path) == index, "request \(index)")
            }
            await harness.engine.settle()
            #expect(await harness.engine.status().objects == 0)
        }
    }

    /// The origin's own error status reaches the client; an unreachable origin gives 502, a silent one 504.
    @Test(arguments: FirstFetchFailure.allCases)
    func failedFirstFetchGivesTheOriginsStatusOrAGatewayError(_ failure: FirstFetchFailure) async throws {
        // Only the silent origin waits out the read timeout; the others get room on a loaded machine.
        let readTimeout = failure == .hanging ? 1 : 60
        try await EngineHarness.with(configure: { $0.engine.originReadTimeoutSeconds = readTimeout }) { harness in
            harness.origin.add(Self.path, length: 30_000, seed: 77)
            let response: TestResponse
            switch failure {
            case .busy:
                harness.origin.setFault(.respond(status: 503, body: "busy"), for: Self.path)
                response = try await harness.get(Self.path)
            case .refused:
                harness.origin.setFault(.refuse, for: Self.path)
                response = try await harness.get(Self.path)
            case .closedPort:
                // Bound but not listening, and held for the whole test: connecting is refused.
                let (closed, port) = try #require(boundLoopbackSocket())
                defer { close(closed) }
                response = try await TestHTTPClient.get(
                    port: harness.port,
                    "\(Self.path)?cacheHostOrigin=127.0.0.1:\(port)"
                )
            case .hanging:
                harness.origin.setFault(.hang, for: Self.path)
                response = try await harness.get(Self.path)
            }
            let expected = [FirstFetchFailure.busy: 503, .refused: 502, .closedPort: 502, .hanging: 504]
            #expect(response.status == expected[failure])
            CachingChecks.expectDate(response)
        }
    }
}
