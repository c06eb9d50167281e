import Foundation

/// Starts the tests' child processes one at a time.
///
/// Foundation's `Process.run()` on Linux crashed now and then (a copy in `run()` reading an unmapped page) when the
/// parallel suites started several processes at once; the launch alone is serialized, never the wait.
package enum ProcessLaunch {
    private static let lock = NSLock()

    package static func run(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}
