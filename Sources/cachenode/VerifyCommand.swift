import ArgumentParser
import CacheNodeCore
import Installer

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that the installed engine answers and serves the validation request.",
        discussion: "Exit status 0 when the engine is healthy and the self-test passes, 1 when not."
    )

    @OptionGroup var install: InstallOptions

    @Option(help: "The origin named in the validation request (a local mirror on offline networks).")
    var selfTestOrigin: String = SelfTest.defaultOrigin

    func run() throws {
        let configuration = try install.installed().configuration
        guard let admin = ListenAddress(configuration.engine.admin), let listen = ListenAddress(configuration.engine.listen) else {
            throw CommandFailure(.failure, "the installed configuration has no usable listen or admin address")
        }
        var failed = false
        let health = try? HTTPProbe.get(HTTPProbe.target(for: admin), path: "/health", timeoutSeconds: 5)
        if health?.status == 200 {
            print("[ ok ] engine: /health answers on \(HTTPProbe.target(for: admin))")
        } else {
            print("[FAIL] engine: /health on \(HTTPProbe.target(for: admin)) does not answer 200")
            failed = true
        }
        let outcome = SelfTest(listen: listen, origin: selfTestOrigin).run()
        switch outcome {
        case .passed:
            print("[ ok ] self-test: \(outcome)")
        default:
            print("[FAIL] self-test: \(outcome)")
            failed = true
        }
        if failed { throw CommandFailure(.failure, "") }
    }
}

struct UninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop the engine and remove what setup installed, restoring what it replaced."
    )

    @OptionGroup var install: InstallOptions

    @Flag(help: "Keep the cached content and its index, for a later install.")
    var keepCache = false

    func run() throws {
        let layout = install.layout
        do {
            let actions = try Uninstaller().uninstall(layout: layout, keepCache: keepCache)
            for action in actions { print(action) }
            print("CacheNode is uninstalled\(layout.isRealInstall ? "" : " from \(layout.root)").")
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }
}
