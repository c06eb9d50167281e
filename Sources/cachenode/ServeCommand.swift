#if canImport(Glibc)
    import Glibc
#endif
import ArgumentParser
import CacheEngine
import CacheNodeCore
import Installer
import Logging
import ServiceLifecycle
import UnixSignals

/// `cachenode serve --config FILE`: runs the cache engine and its admin listener in the foreground.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the cache engine in the foreground with an installed configuration.",
        discussion: """
            Serves Delivery Optimization clients on engine.listen and /health, /status and /metrics on \
            engine.admin. SIGTERM or SIGINT stops it gracefully: in-flight responses finish, then it exits 0. \
            SIGHUP (systemctl reload cachenode) reads <state>/hub-link.json again: the reporter starts, moves or stops \
            without a restart; it also reads the HTTPS certificate and key files again (new connections take the new \
            certificate, open ones go on).
            --pid-file FILE records the process id in FILE as soon as it starts, as `cachenode setup --root` uses it \
            for an engine it runs in the background.
            Exit status: 0 after a graceful stop, 1 when it cannot start (a port in use), 2 for an invalid configuration.
            """
    )

    @Option(name: .long, help: "The configuration file (the answer-file schema), as written by `cachenode setup`.")
    var config: String

    @Option(name: .long, help: "Write the process id to this file when starting (left in place at exit).")
    var pidFile: String?

    func run() async throws {
        // First of all: a reload (SIGHUP) that comes early must find it trapped, not end the process.
        let reloads = await UnixSignalsSequence(trapping: .sighup)
        if let pidFile {
            do {
                try FileSystem.writeAtomically(pidFile, Array("\(getpid())\n".utf8))
            } catch {
                throw CommandFailure(.failure, "--pid-file: \(error)")
            }
        }
        let configuration = try AnswerFileInput.load(config, sizing: try ResourceLocator.sizingTable())
        let originsPath = try ResourceLocator.resourcesDirectory() + "/origins.txt"
        let allowlist: OriginAllowlist
        do {
            allowlist = try OriginAllowlist(
                text: try TextFile.read(originsPath),
                extra: configuration.engine.extraOrigins
            )
        } catch {
            throw CommandFailure(.failure, "\(originsPath): \(error)")
        }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "cachenode.engine")

        CacheEngine.boundMallocArenas()
        let engine: CacheEngine
        do {
            engine = try CacheEngine(configuration: configuration, allowlist: allowlist, logger: logger)
        } catch {
            throw CommandFailure(.failure, "\(error)")
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: engine),
                // Stops with the engine; a hub that is down only logs, it never stops serving.
                .init(
                    service: HubLinkService(
                        state: configuration.storage.state,
                        engine: engine,
                        logger: logger,
                        reloads: reloads
                    ),
                    successTerminationBehavior: .ignore,
                    failureTerminationBehavior: .ignore
                ),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch let error as EngineError {
            throw CommandFailure(.failure, "\(error)")
        } catch {
            throw CommandFailure(.failure, "the engine stopped: \(error)")
        }
        logger.info("stopped")
    }
}
