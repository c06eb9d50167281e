#if canImport(Glibc)
    import Glibc
#endif

/// Asks the running engine to read its hub link again (SIGHUP): through systemd on a real install
/// (`systemctl reload cachenode`, the unit's `ExecReload=`), to the background engine's pid under `--root`.
package enum EngineReload {
    package enum Outcome: Equatable, Sendable {
        /// Done; how, in words.
        case reloaded(String)
        /// No engine runs: it reads the link when it starts.
        case notRunning
        case failed(String)
    }

    package static func reload(layout: InstallLayout, runner: any CommandRunning = SystemCommandRunner()) async
        -> Outcome
    {
        if layout.isRealInstall, let service = await ServiceState.read(runner: runner), service.isActive {
            let result = await runner.run(["systemctl", "reload", ServiceState.unit])
            guard result.status == 0 else {
                return .failed("systemctl reload \(ServiceState.unit) exited \(result.status): \(result.output)")
            }
            return .reloaded("systemctl reload \(ServiceState.unit)")
        }
        guard let pid = EngineProcess.running(pidFile: layout.pidFile) else { return .notRunning }
        guard kill(pid, SIGHUP) == 0 else { return .failed("cannot signal pid \(pid): \(FileSystem.reason())") }
        return .reloaded("SIGHUP to the engine, pid \(pid)")
    }
}
