import CacheProtocol
import CacheNodeTestSupport
import Foundation
import Testing

/// `curl` and `wget`, the real clients, through the engine (skipped where they are not installed).
struct RealClientTests {
    static func run(_ tool: String, _ arguments: [String], in directory: String) async throws -> Int32 {
        try await TestHTTPClient.blocking { try runBlocking(tool, arguments, in: directory) }
    }

    static func runBlocking(_ tool: String, _ arguments: [String], in directory: String) throws -> Int32 {
        try ChildProcess.run([tool] + arguments, directory: directory).status
    }

    static func file(_ directory: String, _ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
    }

    static var hasCurl: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") }
    static var hasWget: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/wget") }

    @Test(.enabled(if: hasCurl)) func curlWholeAndRange() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/curl.bin", length: 700_001, seed: 41)
            let url = "http://127.0.0.1:\(harness.port)\(harness.target("/curl.bin"))"
            let directory = harness.directory.root
            #expect(try await Self.run("curl", ["-sf", "-o", "whole", url], in: directory) == 0)
            expectBytes(try Self.file(directory, "whole"), bytes)
            #expect(try await Self.run("curl", ["-sf", "-r", "100000-199999", "-o", "part", url], in: directory) == 0)
            expectBytes(try Self.file(directory, "part"), bytes[100_000...199_999])
            // Resume a partial download with `curl -C -`.
            try Data(bytes[0..<123_456]).write(to: URL(fileURLWithPath: directory + "/resumed"))
            #expect(try await Self.run("curl", ["-sf", "-C", "-", "-o", "resumed", url], in: directory) == 0)
            expectBytes(try Self.file(directory, "resumed"), bytes)
        }
    }

    @Test(.enabled(if: hasWget)) func wgetWholeAndContinue() async throws {
        try await EngineHarness.with { harness in
            let bytes = harness.origin.add("/wget.bin", length: 500_000, seed: 43)
            let url = "http://127.0.0.1:\(harness.port)\(harness.target("/wget.bin"))"
            let directory = harness.directory.root
            #expect(try await Self.run("wget", ["-q", "-O", "whole", url], in: directory) == 0)
            expectBytes(try Self.file(directory, "whole"), bytes)
            try Data(bytes[0..<200_000]).write(to: URL(fileURLWithPath: directory + "/partial"))
            #expect(try await Self.run("wget", ["-q", "-c", "-O", "partial", url], in: directory) == 0)
            expectBytes(try Self.file(directory, "partial"), bytes)
        }
    }
}
