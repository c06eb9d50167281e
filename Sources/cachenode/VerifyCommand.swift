import ArgumentParser
import CacheNodeCore
import Foundation
import Installer

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that the installed engine answers and serves the validation request.",
        discussion: "Exit status 0 when the engine is healthy and the self-test passes, 1 when not."
    )

    @OptionGroup var install: InstallOptions

    @Option(help: "The origin named in the validation request (a local mirror on offline networks).")
    var selfTestOrigin: String = SelfTest.defaultOrigin

    func run() async throws {
        let configuration = try install.installed().configuration
        guard let admin = ListenAddress(configuration.engine.admin),
            let listen = ListenAddress(configuration.engine.listen)
        else {
            throw CommandFailure(.failure, "the installed configuration has no usable listen or admin address")
        }
        var failed = false
        if install.layout.isRealInstall {
            let service = await ServiceState.read()
            if let service, service.isActive {
                print("[ ok ] service: \(service.summary)")
            } else {
                print(
                    "[FAIL] service: \(service?.summary ?? "\(ServiceState.unit) is not installed"); see journalctl -u cachenode"
                )
                failed = true
            }
        }
        let target = HTTPProbe.target(for: admin)
        let answer = try? HTTPProbe.get(target, path: "/health", timeoutSeconds: 5)
        let health = answer.flatMap { try? EngineStatus.decoder.decode(HealthDocument.self, from: Data($0.body)) }
        switch (answer?.status, health) {
        case (200?, let health?) where health.state == .serving:
            print("[ ok ] engine: serving (/health on \(target))")
        case (200?, let health?):
            // Degraded still serves: said, not failed.
            print("[warn] engine: \(health.state.rawValue) (/health on \(target))")
            for reason in health.reasons { print("       - \(reason.detail); \(reason.action)") }
        case (_?, let health?):
            print("[FAIL] engine: \(health.state.rawValue) (/health on \(target))")
            for reason in health.reasons { print("       - \(reason.detail); \(reason.action)") }
            failed = true
        case (let status?, nil):
            print("[FAIL] engine: /health on \(target) answered \(status)")
            failed = true
        case (nil, _):
            print("[FAIL] engine: /health on \(target) does not answer")
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

struct UninstallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop the engine and remove what setup installed, restoring what it replaced."
    )

    @OptionGroup var install: InstallOptions

    @Flag(help: "Keep the cached content and its index, for a later install.")
    var keepCache = false

    func run() async throws {
        let layout = install.layout
        do {
            let actions = try await Uninstaller().uninstall(layout: layout, keepCache: keepCache)
            for action in actions { print(action) }
            print("CacheNode is uninstalled\(layout.isRealInstall ? "" : " from \(layout.root)").")
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
    }
}

struct ConfirmNetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm-network",
        abstract: "Keep the network change that setup is waiting to have confirmed.",
        discussion: """
            When setup changes the network that carries your own connection, it keeps the change only if it is \
            confirmed in time; otherwise the network is put back by itself. Run this from a new session to the \
            node's new address: that you can is the confirmation.
            """
    )

    func run() throws {
        do {
            guard try NetworkTrial.confirm() else {
                throw CommandFailure(.failure, "no network change is waiting for confirmation")
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        print("Confirmed: setup keeps the new network and goes on.")
    }
}

struct NetworkRevertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network-revert",
        abstract: "Put back a network change that was not confirmed (run by setup's safety timer).",
        shouldDisplay: false
    )

    func run() async throws {
        let pending: NetworkRevert?
        do {
            pending = try NetworkRevert.pending()
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        guard let pending else {
            print("No network change is waiting: nothing to put back.")
            return
        }
        if FileSystem.exists(NetworkRevert.confirmedPath) {
            print("The network change was confirmed: nothing to put back.")
            return
        }
        let problems = await pending.perform(runner: SystemCommandRunner())
        try? FileSystem.remove(NetworkRevert.pendingPath)
        for problem in problems { printError("network-revert: \(problem)") }
        print("The network change was not confirmed in time and was put back.")
        if !problems.isEmpty { throw CommandFailure(.failure, "") }
    }
}

/// The engine's `/health` document.
struct HealthDocument: Decodable {
    var state: HealthState
    var reasons: [HealthReason]
    var since: Date
}
