import CacheNodeTestSupport
import Testing

@testable import CacheEngine

/// The two checks every fault case makes: the engine keeps serving others, and no client gets a wrong byte.
enum FaultChecks {
    /// A 2xx carries exactly `expected` (a cut one a prefix of it); anything else is a 5xx or `allowed`. A 2xx
    /// labelled with a content coding is not offered as the object's bytes, and only answers a request without Range.
    static func expectNeverWrong(
        _ response: TestResponse?,
        expected: [UInt8],
        ranged: Bool = false,
        allowed: Set<Int> = [],
        _ comment: Comment? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let response else { return }  // the connection was cut before a whole head
        if let coding = response.header("Content-Encoding"), coding.lowercased() != "identity" {
            #expect(!ranged, "encoded bytes (\(coding)) answered a range", sourceLocation: sourceLocation)
            #expect(response.status != 206, "a range of encoded bytes", sourceLocation: sourceLocation)
            return
        }
        if (200..<300).contains(response.status) {
            if response.complete {
                expectBytes(response.body, expected, comment, sourceLocation: sourceLocation)
            } else {
                expectPrefix(response.body, of: expected, comment, sourceLocation: sourceLocation)
            }
        } else {
            #expect(
                response.status >= 500 || allowed.contains(response.status),
                comment,
                sourceLocation: sourceLocation
            )
        }
    }
}

extension EngineHarness {
    /// A GET that returns `nil` when the connection ends before a whole response head.
    func attempt(_ path: String, headers: [(String, String)] = []) async -> TestResponse? {
        try? await get(path, headers: headers)
    }

    /// Fetches a healthy object whole and in a range, and expects exact bytes both times.
    func expectHealthy(_ path: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) async throws
    {
        let whole = try await get(path)
        #expect(whole.status == 200, sourceLocation: sourceLocation)
        expectBytes(whole.body, bytes, "healthy \(path) while the fault happens", sourceLocation: sourceLocation)
        let part = try await get(path, headers: [("Range", "bytes=70000-170000")])
        #expect(part.status == 206, sourceLocation: sourceLocation)
        expectBytes(part.body, bytes[70_000...170_000], sourceLocation: sourceLocation)
    }

    /// Polls `condition` for up to 30 seconds (generous: the whole test run shares the machine); false when it
    /// never held.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        // A bound against a hang only: a loaded machine may take long to get there.
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await condition()
    }
}
