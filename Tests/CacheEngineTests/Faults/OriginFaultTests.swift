import Foundation
import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// Origin faults, cold and with part of the object cached, while another client fetches a healthy object.
@Suite
struct OriginFaultTests {
    static let faults: [TestOrigin.Fault] = [
        .refuse, .resetAfter(0), .resetAfter(70_000), .shortBody(0), .shortBody(70_000), .status(500), .status(503),
        .hang, .changedETag, .ignoreRange, .redirect("http://elsewhere.example/x"), .contentEncoding("gzip"),
        .transferEncoding("gzip"), .vary("*"), .vary("User-Agent"),
    ]

    @Test(arguments: faults, [false, true])
    func faultNeverGivesWrongBytesAndOthersAreServed(fault: TestOrigin.Fault, warm: Bool) async throws {
        // Short for the hang case; otherwise long enough that no fill meets it on a busy machine.
        let readTimeout: Int
        if case .hang = fault { readTimeout = 5 } else { readTimeout = 60 }
        try await EngineHarness.with(configure: { $0.engine.originReadTimeoutSeconds = readTimeout }) { harness in
            let healthy = harness.origin.add("/healthy.bin", length: 400_000, seed: 71)
            let bytes = harness.origin.add("/f.bin", length: 300_000, seed: 73)
            if warm {
                expectBytes(try await harness.get("/f.bin", headers: [("Range", "bytes=0-100")]).body, bytes[0...100])
                await harness.engine.settle()
            }
            harness.origin.setFault(fault, for: "/f.bin")
            let requests: [(String?, ArraySlice<UInt8>)] = [
                (nil, bytes[...]), ("bytes=0-100", bytes[0...100]), ("bytes=200000-250000", bytes[200_000...250_000]),
                ("bytes=-1000", bytes[299_000...]),
            ]
            let allowed: Set<Int> = if case .redirect = fault { [302] } else { [] }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (range, expected) in requests {
                    group.addTask {
                        let response = await harness.attempt("/f.bin", headers: range.map { [("Range", $0)] } ?? [])
                        FaultChecks.expectNeverWrong(
                            response,
                            expected: Array(expected),
                            ranged: range != nil,
                            allowed: allowed,
                            "\(fault) \(range ?? "whole")"
                        )
                    }
                }
                group.addTask { try await harness.expectHealthy("/healthy.bin", healthy) }
                try await group.waitForAll()
            }
            // Once the origin recovers, the object is fetched again and exact.
            harness.origin.setFault(nil, for: "/f.bin")
            var recovered = try await harness.get("/f.bin")
            if fault == .changedETag, !recovered.complete {
                // A block fetched during the fault was stored under the fault's ETag, so the origin's own ETag is a
                // change again. Met before the head, the engine serves the new version; met after blocks of the old
                // one were sent, it can only cut that response (never mixing), once.
                recovered = try await harness.get("/f.bin")
            }
            #expect(recovered.status == 200)
            #expect(recovered.complete)
            expectBytes(recovered.body, bytes)
        }
    }

    /// An object replaced on the origin (new ETag and length): every response is one version whole, never a mix.
    @Test func replacedObjectIsNeverMixed() async throws {
        try await EngineHarness.with { harness in
            let healthy = harness.origin.add("/healthy.bin", length: 400_000, seed: 71)
            let old = harness.origin.add("/r.bin", length: 300_000, seed: 75)
            expectBytes(try await harness.get("/r.bin", headers: [("Range", "bytes=0-100")]).body, old[0...100])
            await harness.engine.settle()
            let new = harness.origin.add("/r.bin", length: 250_000, seed: 76)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        guard let response = await harness.attempt("/r.bin"), response.status == 200 else { return }
                        let version = response.header("Content-Length") == "\(new.count)" ? new : old
                        FaultChecks.expectNeverWrong(response, expected: version)
                    }
                }
                group.addTask { try await harness.expectHealthy("/healthy.bin", healthy) }
                try await group.waitForAll()
            }
            expectBytes(try await harness.get("/r.bin").body, new)
            let tail = try await harness.get("/r.bin", headers: [("Range", "bytes=200000-")])
            expectBytes(tail.body, new[200_000...])
        }
    }
}
