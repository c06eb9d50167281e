import CacheProtocol
import CacheNodeCore
import CacheNodeTestSupport
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@testable import CacheEngine

struct OriginFailureTests {
    /// Faults that fail before the first body byte: the client gets a fast error (the origin's own 5xx, 502 without an
    /// answer, 504 for a timeout), nothing is stored.
    @Test(
        arguments: [
            (TestOrigin.Fault.refuse, 502),
            (.status(500), 500),
            (.status(503), 503),
            (.shortBody(0), 502),
            (.resetAfter(0), 502),
            (.hang, 504),
        ] as [(TestOrigin.Fault, Int)]
    )
    func failureGivesAnErrorAndStoresNothing(fault: TestOrigin.Fault, status: Int) async throws {
        // A short read timeout for the hanging origin; the others fail at once, and a long one keeps a loaded machine
        // from turning their failure into a timeout.
        let readTimeout: Int
        if case .hang = fault { readTimeout = 2 } else { readTimeout = 60 }
        try await EngineHarness.with(configure: { $0.engine.originReadTimeoutSeconds = readTimeout }) { harness in
            let bytes = harness.origin.add("/f.bin", length: 150_000, seed: 31)
            harness.origin.setFault(fault, for: "/f.bin")
            let response = try await harness.get("/f.bin")
            #expect(response.status == status)
            #expect(await harness.engine.status().objects == 0)
            #expect(await harness.engine.status().originErrors >= 1)
            // Once the origin recovers, the next request fetches again and gets the right bytes.
            harness.origin.setFault(nil, for: "/f.bin")
            expectBytes(try await harness.get("/f.bin").body, bytes)
        }
    }

    /// A refused connection reads as an administrator knows it in `/health` and the self-test, not as the system call
    /// NIO saw it in ("connection reset (error set): ...").
    @Test func aRefusedConnectionSaysConnectionRefused() {
        let failure = OriginClient.failure(IOError(errnoCode: ECONNREFUSED, reason: "connection reset (error set)"))
        #expect(failure == .unreachable("connection refused (errno \(ECONNREFUSED))"))
        #expect(failure.description == "origin unreachable: connection refused (errno \(ECONNREFUSED))")
        #expect(failure.shortDescription == "connect")
    }

    /// Faults after some body bytes: the response is cut (the connection closes early), nothing wrong is stored.
    @Test(arguments: [TestOrigin.Fault.shortBody(1000), .resetAfter(1000)])
    func failureMidBodyCutsTheResponse(fault: TestOrigin.Fault) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/m.bin", length: 150_000, seed: 33)
            harness.origin.setFault(fault, for: "/m.bin")
            let response = try await harness.get("/m.bin", headers: [("Range", "bytes=0-65535")])
            #expect(response.status == 502 || !response.complete)
            #expect(harness.engine.store.storedBlocks(key: "\(harness.origin.authority)/m.bin").isEmpty)
            harness.origin.setFault(nil, for: "/m.bin")
            expectBytes(try await harness.get("/m.bin").body, bytes)
        }
    }

    /// An origin closes an idle kept-alive connection just as the engine reuses it (its keep-alive timeout ended):
    /// the engine tries once more on a new connection instead of failing the client.
    @Test func keptAliveConnectionClosedByTheOriginIsRetried() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/k.bin", length: 300_000, seed: 37)
            harness.origin.setFault(.dropReusedConnection, for: "/k.bin")
            for (start, end) in [(0, 100), (70_000, 140_000), (200_000, 299_999)] {
                let response = try await harness.get("/k.bin", headers: [("Range", "bytes=\(start)-\(end)")])
                #expect(response.status == 206)
                expectBytes(response.body, bytes[start...end])
            }
            #expect(
                harness.origin.requests("/k.bin") > 3,
                "no kept-alive connection was reused: the case was not exercised"
            )
            #expect(await harness.engine.status().originErrors == 0)
        }
    }

    @Test func unreachableOriginGivesBadGateway() async throws {
        try await EngineHarness.with { harness in
            // Bound but not listening, and held for the whole test: connecting is refused, and no other server (the
            // engine itself included) can take the port in the meantime.
            let (closed, port) = try #require(boundLoopbackSocket())
            defer { close(closed) }
            let response = try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=127.0.0.1:\(port)")
            #expect(response.status == 502)
        }
    }

    /// The origin's ETag changes while block 0 is stored: the old copy is dropped, never mixed with the new, and
    /// since nothing was sent yet the client gets the new version rather than a 502.
    @Test func changedETagDropsTheOldCopyAndServesTheNewOne() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/v.bin", length: 200_000, seed: 35)
            let key = "\(harness.origin.authority)/v.bin"
            _ = try await harness.get("/v.bin", headers: [("Range", "bytes=0-100")])
            // The client has its 101 bytes before the whole block is stored.
            await harness.engine.settle()
            #expect(harness.engine.store.storedBlocks(key: key) == [0])
            harness.origin.setFault(.changedETag, for: "/v.bin")
            let response = try await harness.get("/v.bin", headers: [("Range", "bytes=150000-150100")])
            #expect(response.status == 206)
            #expect(response.header("ETag") == "\"changed\"")
            expectBytes(response.body, bytes[150_000...150_100])
            await harness.engine.settle()
            #expect(harness.engine.store.metadata(for: key)?.etag == "\"changed\"")
            #expect(harness.engine.store.storedBlocks(key: key) == [2], "a block of the old version is still stored")
        }
    }

    @Test func originIgnoringRangeIsHandled() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/i.bin", length: 300_000, seed: 37)
            harness.origin.setFault(.ignoreRange, for: "/i.bin")
            let response = try await harness.get("/i.bin", headers: [("Range", "bytes=200000-200999")])
            #expect(response.status == 206)
            expectBytes(response.body, bytes[200_000...200_999])
            let whole = try await harness.get("/i.bin")
            expectBytes(whole.body, bytes)
        }
    }

    @Test(
        arguments: [
            (TestOrigin.Fault.redirect("http://elsewhere.example/x"), 302),
            (.status(404), 404),
            (.status(403), 403),
            (.noStore, 200),
        ] as [(TestOrigin.Fault, Int)]
    )
    func uncacheableResponsesArePassedThroughNotStored(fault: TestOrigin.Fault, status: Int) async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/p.bin", length: 10_000, seed: 39)
            harness.origin.setFault(fault, for: "/p.bin")
            let first = try await harness.get("/p.bin")
            #expect(first.status == status)
            if status == 200 { expectBytes(first.body, bytes) }
            if status == 302 { #expect(first.header("Location") == "http://elsewhere.example/x") }
            _ = try await harness.get("/p.bin")
            #expect(await harness.engine.status().objects == 0)
            // One origin request per client request: the answer that is not stored is the one relayed.
            #expect(harness.origin.requests("/p.bin") == 2)
        }
    }
}

struct RefusedOriginTests {
    @Test(arguments: [
        "evil.example.com",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]:8080",
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "localhost",
        "download.windowsupdate.com.evil.example",
    ])
    func refusedWithForbidden(origin: String) async throws {
        try await EngineHarness.with { harness in
            let response = try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=\(origin)")
            #expect(response.status == 403)
            #expect(String(decoding: response.body, as: UTF8.self).split(separator: "\n").count == 1)
            #expect(harness.origin.requests("/x") == 0)
        }
    }

    @Test func loopToTheEngineItselfIsRefused() async throws {
        try await EngineHarness.with { harness in
            let response = try await TestHTTPClient.get(
                port: harness.port,
                "/x?cacheHostOrigin=127.0.0.1:\(harness.port)"
            )
            #expect(response.status == 403)
            #expect(String(decoding: response.body, as: UTF8.self).contains("this cache itself"))
        }
    }

    @Test(arguments: ["user@127.0.0.1", "127.0.0.1%2F..", "127.0.0.1/x"])
    func malformedOriginsAreBadRequests(origin: String) async throws {
        try await EngineHarness.with { harness in
            let response = try await TestHTTPClient.get(port: harness.port, "/x?cacheHostOrigin=\(origin)")
            #expect(response.status == 400)
        }
    }
}
