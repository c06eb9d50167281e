import CacheNodeTestSupport
import Foundation

/// Runs the built `cachenode` binary and captures what a person would see.
struct CLIRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// `CACHENODE_BINARY`, else the binary beside the test bundle, else the debug build of this tree.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["CACHENODE_BINARY"] { return path }
        let besideTests = Bundle.main.bundleURL.appendingPathComponent("cachenode").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        return repository.appendingPathComponent(".build/debug/cachenode").path
    }()

    static func run(
        _ arguments: [String],
        in directory: URL = repository,
        stdin: String? = nil,
        environment: [String: String] = [:]
    ) throws -> Result {
        try execute(binary, arguments, in: directory, stdin: stdin, environment: environment)
    }

    /// `ip ARGUMENTS...` for a test network in namespaces the test makes; a failure stops the test with ip's reason.
    static func ip(_ arguments: String...) throws {
        let result = try execute("ip", arguments)
        guard result.status == 0 else {
            throw Failure(description: "ip \(arguments.joined(separator: " ")): \(result.stderr)")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs another program (`ip`, `tmux`, ...) found by absolute path or on `PATH` (with posix_spawn: Foundation's
    /// `Process.run()` crashes now and then on Linux).
    static func execute(
        _ tool: String,
        _ arguments: [String],
        in directory: URL = repository,
        stdin: String? = nil,
        environment: [String: String] = [:]
    ) throws -> Result {
        let result = try ChildProcess.run(
            [tool] + arguments,
            directory: directory.path,
            stdin: stdin,
            environment: environment
        )
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}
