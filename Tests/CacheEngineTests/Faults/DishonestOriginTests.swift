import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// One origin misbehaviour and what the client and the store must see.
struct DishonestAnswer: Sendable, CustomTestStringConvertible {
    enum Outcome: Sendable {
        /// Encoded bytes: a range gets 502; a request without Range gets them as they are, with their
        /// Content-Encoding. Nothing stored.
        case encoded(String)
        /// A body that is not the bytes its head describes: 502 whatever was asked. Nothing stored.
        case refused
        /// The object's bytes passed through with the origin's `Vary`. Nothing stored.
        case varies(String)
        /// The object's identity bytes: served and stored.
        case stored
    }

    let fault: TestOrigin.Fault
    let outcome: Outcome

    init(_ fault: TestOrigin.Fault, _ outcome: Outcome) {
        self.fault = fault
        self.outcome = outcome
    }

    var testDescription: String { "\(fault)" }
}

/// Origins that answer with other bytes than the object's identity bytes (a content or transfer coding, a `Vary`
/// the engine does not key on): nothing of them is stored, and no client gets them as the object's bytes.
@Suite
struct DishonestOriginTests {
    static let answers: [DishonestAnswer] = [
        // Content codings, whatever the engine's Accept-Encoding: identity says.
        DishonestAnswer(.contentEncoding("gzip"), .encoded("gzip")),
        DishonestAnswer(.contentEncoding("br"), .encoded("br")),
        DishonestAnswer(.contentEncoding("deflate"), .encoded("deflate")),
        DishonestAnswer(.contentEncoding("x-gzip"), .encoded("x-gzip")),
        DishonestAnswer(.contentEncoding("GZIP"), .encoded("GZIP")),
        DishonestAnswer(.contentEncoding("identity, gzip"), .encoded("identity, gzip")),
        DishonestAnswer(.contentEncoding("gzip, identity"), .encoded("gzip, identity")),
        // Transfer codings other than chunked: the body is not what the head describes.
        DishonestAnswer(.transferEncoding("gzip"), .refused),
        DishonestAnswer(.transferEncoding("deflate"), .refused),
        // Vary: * never matches a later request; the engine keys on nothing but the URL and Accept-Encoding.
        DishonestAnswer(.vary("*"), .varies("*")),
        DishonestAnswer(.vary("Accept-Encoding, *"), .varies("Accept-Encoding, *")),
        DishonestAnswer(.vary("User-Agent"), .varies("User-Agent")),
        DishonestAnswer(.vary("Cookie"), .varies("Cookie")),
        DishonestAnswer(.vary("accept-encoding, Origin"), .varies("accept-encoding, Origin")),
        // Neighbours that are the identity bytes: stored as usual.
        DishonestAnswer(.contentEncoding("identity"), .stored),
        DishonestAnswer(.vary("Accept-Encoding"), .stored),
        DishonestAnswer(.vary("accept-encoding, Accept-Encoding"), .stored),
    ]

    @Test(arguments: answers)
    func dishonestAnswerIsNeverStoredNorServedAsTheObject(answer: DishonestAnswer) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/d.bin", length: 300_000, seed: 93)
            let key = "\(harness.origin.authority)/d.bin"
            harness.origin.setFault(answer.fault, for: "/d.bin")
            let ranged = try await harness.get("/d.bin", headers: [("Range", "bytes=70000-170000")])
            if case .encoded = answer.outcome {
                #expect(
                    harness.origin.requests("/d.bin") == 1,
                    "the origin was asked again for a range of encoded bytes"
                )
            }
            let whole = try await harness.get("/d.bin")
            await harness.engine.settle()
            switch answer.outcome {
            case .encoded(let coding):
                #expect(ranged.status == 502)
                #expect(String(decoding: ranged.body, as: UTF8.self).contains("Content-Encoding"))
                #expect(whole.status == 200)
                #expect(whole.header("Content-Encoding") == coding)
                expectBytes(whole.body, TestOrigin.encoded(bytes), "passed through as the origin sent it")
            case .refused:
                #expect(ranged.status == 502)
                #expect(whole.status == 502)
            case .varies(let vary):
                #expect(ranged.status == 206)
                expectBytes(ranged.body, bytes[70_000...170_000])
                #expect(whole.status == 200)
                expectBytes(whole.body, bytes)
                #expect(whole.header("Vary") == vary)
            case .stored:
                #expect(ranged.status == 206)
                expectBytes(ranged.body, bytes[70_000...170_000])
                #expect(whole.status == 200)
                expectBytes(whole.body, bytes)
            }
            if case .stored = answer.outcome {
                #expect(harness.engine.store.metadata(for: key)?.length == Int64(bytes.count))
                #expect(harness.engine.store.storedBlocks(key: key) == Array(0..<5))
            } else {
                #expect(harness.engine.store.metadata(for: key) == nil)
                #expect(harness.engine.store.storedBlocks(key: key).isEmpty)
            }
            #expect(harness.origin.acceptEncodings.allSatisfy { $0 == "identity" }, "\(harness.origin.acceptEncodings)")
            // Nothing of the fault was kept: once the origin answers honestly, every byte is the object's.
            harness.origin.setFault(nil, for: "/d.bin")
            expectBytes(try await harness.get("/d.bin").body, bytes)
            let part = try await harness.get("/d.bin", headers: [("Range", "bytes=250000-")])
            expectBytes(part.body, bytes[250_000...])
        }
    }

    /// The issue's origin: block 0 is stored, then the origin answers the next range with gzip and a Content-Range
    /// of the gzip stream. The stored copy is neither mixed with it nor replaced by it.
    @Test(arguments: [TestOrigin.Fault.contentEncoding("gzip"), .transferEncoding("gzip"), .vary("*")])
    func dishonestAnswerForAStoredObjectLeavesItsBlocksAlone(fault: TestOrigin.Fault) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/w.bin", length: 300_000, seed: 95)
            let key = "\(harness.origin.authority)/w.bin"
            expectBytes(try await harness.get("/w.bin", headers: [("Range", "bytes=0-100")]).body, bytes[0...100])
            await harness.engine.settle()
            harness.origin.setFault(fault, for: "/w.bin")
            for range in ["bytes=70000-170000", "bytes=200000-", "bytes=-1000"] {
                let response = await harness.attempt("/w.bin", headers: [("Range", range)])
                #expect(response?.status == 502, "\(range)")
            }
            let whole = await harness.attempt("/w.bin")
            FaultChecks.expectNeverWrong(whole, expected: bytes)
            await harness.engine.settle()
            #expect(harness.engine.store.storedBlocks(key: key) == [0])
            #expect(harness.engine.store.metadata(for: key)?.length == Int64(bytes.count))
            harness.origin.setFault(nil, for: "/w.bin")
            expectBytes(try await harness.get("/w.bin").body, bytes)
        }
    }

    /// A body that ends where the origin closes (no Content-Length, not chunked) is relayed whole, never announced
    /// as empty with the origin's bytes left on the connection.
    @Test func closeDelimitedAnswerIsRelayedWhole() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/c.bin", length: 200_000, seed: 97)
            harness.origin.setFault(.closeDelimited, for: "/c.bin")
            let whole = try await harness.get("/c.bin")
            #expect(whole.status == 200)
            #expect(whole.complete)
            expectBytes(whole.body, bytes)
            // A range the origin ignored: the whole object, as 200.
            let ranged = try await harness.get("/c.bin", headers: [("Range", "bytes=100-199")])
            #expect(ranged.status == 200)
            expectBytes(ranged.body, bytes)
            // The next request on a kept-alive connection reads its own response, not the rest of a body.
            let twice =
                "GET \(harness.target("/c.bin")) HTTP/1.1\r\nHost: cache\r\n\r\n"
                + "GET \(harness.target("/c.bin")) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n"
            let responses = try TestHTTPClient.parseAll(
                try await TestHTTPClient.raw(port: harness.port, Array(twice.utf8))
            )
            #expect(responses.map(\.status) == [200, 200])
            for response in responses { expectBytes(response.body, bytes) }
            #expect(await harness.engine.status().objects == 0)
        }
    }

    /// Header values that hold commas (dates) reach the client as the origin sent them, not split into lines.
    @Test func passedThroughHeaderValuesKeepTheirCommas() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/n.bin", length: 10_000, seed: 99)
            harness.origin.setFault(.noStore, for: "/n.bin")
            let response = try await harness.get("/n.bin")
            #expect(response.status == 200)
            expectBytes(response.body, bytes)
            #expect(
                response.headers.filter { $0.0.lowercased() == "last-modified" }.map(\.1) == [
                    "Wed, 21 Oct 2015 07:28:00 GMT"
                ]
            )
        }
    }
}
