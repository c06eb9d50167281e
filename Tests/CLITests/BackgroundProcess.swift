import CacheNodeTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A long-running `cachenode` command (serve, hub serve) with its output in a file the test can wait on.
final class BackgroundProcess {
    let process: ChildProcess
    let outputPath: String

    init(_ arguments: [String], outputPath: String) throws {
        self.outputPath = outputPath
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process = try ChildProcess([CLIRunner.binary] + arguments, outputPath: outputPath)
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Polls until `condition` holds; false if the process ended or `attempts` polls of 50 ms passed.
    func wait(attempts: Int = 600, until condition: () -> Bool) -> Bool {
        for _ in 0..<attempts {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(50_000)
        }
        return false
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        process.signal(SIGTERM)
        return process.waitUntilExit()
    }
}
