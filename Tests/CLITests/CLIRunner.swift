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

    /// Runs another program (`ip`, `tmux`, ...) found by absolute path or on `PATH`.
    static func execute(
        _ tool: String,
        _ arguments: [String],
        in directory: URL = repository,
        stdin: String? = nil,
        environment: [String: String] = [:]
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool.hasPrefix("/") ? tool : "/usr/bin/env")
        let arguments = tool.hasPrefix("/") ? arguments : [tool] + arguments
        process.arguments = arguments
        process.currentDirectoryURL = directory
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }
}
