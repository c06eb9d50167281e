import ArgumentParser
import CacheNodeCore

#if canImport(Glibc)
    import Glibc
#endif

struct CacheNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cachenode",
        abstract: "A Delivery Optimization cache node for Windows devices, and its installer.",
        version: CacheNodeVersion.current,
        subcommands: [
            SetupCommand.self,
            ServeCommand.self,
            StatusCommand.self,
            VerifyCommand.self,
            PolicyCommand.self,
            CertCommand.self,
            DiagnosticsCommand.self,
            UninstallCommand.self,
            ConfirmNetworkCommand.self,
            NetworkRevertCommand.self,
            HubCommand.self,
            NodeCommand.self,
            CheckCommand.self,
            ValidateCommand.self,
            PlanCommand.self,
        ]
    )
}

/// Runs the command line and maps every error to the exit codes of DESIGN.md in one place:
/// 0 done, 2 invalid answers or usage, 3 a blocking host check, 4 apply failed and rolled back.
@main
enum CacheNodeMain {
    static func main() async {
        do {
            var command = try CacheNodeCommand.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            if !failure.message.isEmpty { printError(failure.message) }
            exit(failure.code.rawValue)
        } catch {
            let code = CacheNodeCommand.exitCode(for: error)
            if code == .validationFailure {
                printError(CacheNodeCommand.fullMessage(for: error))
                exit(CommandFailure.Code.invalid.rawValue)
            }
            CacheNodeCommand.exit(withError: error)
        }
    }
}

/// An error that ends the command with a message and one of the documented exit codes.
struct CommandFailure: Error {
    enum Code: Int32 {
        case failure = 1
        case invalid = 2
        case blocked = 3
        case applyFailed = 4
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        written += count
    }
}
