import Subprocess

/// Runs the system commands of a real install (systemctl, nft, networkctl); tests give a recording fake.
package protocol CommandRunning: Sendable {
    /// Runs `arguments`; the exit status and what it printed.
    func run(_ arguments: [String]) async -> (status: Int32, output: String)
}

package struct SystemCommandRunner: CommandRunning {
    /// What a command prints is kept up to this many bytes (for error messages); the rest is read and dropped.
    static let outputLimit = 65536

    package init() {}

    /// Runs `arguments[0]`, found on PATH, with standard input from /dev/null and its standard error merged into the
    /// output, as a shell's `2>&1` would. The status is the exit code, or 128 plus the signal that ended it; a
    /// command that cannot start gives 127 and says why.
    package func run(_ arguments: [String]) async -> (status: Int32, output: String) {
        do {
            let result = try await Subprocess.run(
                .name(arguments[0]),
                arguments: Arguments(Array(arguments.dropFirst())),
                input: .none,
                output: .sequence,
                error: .combinedWithOutput
            ) { execution in
                var output: [UInt8] = []
                for try await buffer in execution.standardOutput where output.count < Self.outputLimit {
                    buffer.withUnsafeBytes { output += $0.prefix(Self.outputLimit - output.count) }
                }
                return String(decoding: output, as: UTF8.self)
            }
            return (result.terminationStatus.shellStatus, result.closureResult)
        } catch {
            return (127, "\(arguments[0]): \(error)")
        }
    }
}

extension TerminationStatus {
    /// The status as a shell reports it in `$?`.
    var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}
