#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore
import Subprocess
import SystemPackage

/// The engine as a background process of a `--root` install: started detached, recorded in a pid file.
package enum EngineProcess {
    /// Starts `binary serve --config config --pid-file pidFile` in a session of its own, its output appended to
    /// `log`, and returns its pid once it has recorded it.
    ///
    /// setsid(1) forks the engine off: it outlives setup, and it is no child of setup's that setup would have to
    /// wait for. It starts with the default signal dispositions, no blocked signals and none of setup's other
    /// descriptors (an inherited pipe would keep setup's caller waiting for EOF).
    package static func start(binary: String, config: String, log: String, pidFile: String) async throws(InstallError)
        -> pid_t
    {
        try FileSystem.makeDirectories(String(log[..<(log.lastIndex(of: "/") ?? log.startIndex)]))
        // A pid left by an engine before this one must not be taken for the new one.
        if FileSystem.exists(pidFile) { try FileSystem.remove(pidFile) }
        let logFile = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard logFile >= 0 else { throw .engine(problem: "cannot open \(log): \(String(cString: strerror(errno)))") }
        let launched: TerminationStatus
        do {
            launched = try await Subprocess.run(
                .name("setsid"),
                arguments: ["--fork", binary, "serve", "--config", config, "--pid-file", pidFile],
                input: .none,
                output: .fileDescriptor(FileDescriptor(rawValue: logFile), closeAfterSpawningProcess: true),
                error: .combinedWithOutput
            ).terminationStatus
        } catch {
            throw .engine(problem: "cannot start \(binary) with setsid: \(error)")
        }
        guard launched.isSuccess else {
            throw .engine(problem: "setsid \(binary) ended with \(launched): \(tail(of: log))")
        }
        for _ in 0..<200 {
            if let pid = recordedPid(pidFile) { return pid }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw .engine(problem: "it did not record its pid in \(pidFile) within 10 s: \(tail(of: log))")
    }

    /// Waits until the admin listener answers `/health`, or the process ends, within `attempts` tries.
    package static func waitUntilReady(pid: pid_t, admin: ListenAddress, log: String, attempts: Int = 300)
        async throws(InstallError)
    {
        let target = HTTPProbe.target(for: admin)
        for _ in 0..<attempts {
            if !isAlive(pid) {
                throw .engine(problem: "it exited during start-up: \(tail(of: log))")
            }
            if let response = try? HTTPProbe.get(target, path: "/health", timeoutSeconds: 2), response.status == 200 {
                return
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw .engine(problem: "/health on \(target) did not answer 200 after start: \(tail(of: log))")
    }

    /// The pid recorded in `pidFile`, when that process is a running cache engine.
    package static func running(pidFile: String) -> pid_t? {
        guard let pid = recordedPid(pidFile), isAlive(pid) else { return nil }
        guard let cmdline = try? FileSystem.contents("/proc/\(pid)/cmdline") else { return nil }
        let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains("serve") && arguments.contains("--config") ? pid : nil
    }

    /// The pid `pidFile` holds, whether or not that process still runs.
    static func recordedPid(_ pidFile: String) -> pid_t? {
        guard let bytes = try? FileSystem.contents(pidFile),
            let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \n")), pid > 0
        else { return nil }
        return pid
    }

    /// Asks the engine to finish (SIGTERM) and waits up to `graceSeconds`, then kills it.
    package static func stop(pid: pid_t, graceSeconds: Int = 30) {
        kill(pid, SIGTERM)
        for _ in 0..<(graceSeconds * 20) {
            if !isAlive(pid) { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        for _ in 0..<100 where isAlive(pid) { usleep(20_000) }
    }

    /// Alive and not a zombie; reaps our own exited children.
    package static func isAlive(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        guard kill(pid, 0) == 0 else { return false }
        if let stat = try? FileSystem.contents("/proc/\(pid)/stat") {
            let text = String(decoding: stat, as: UTF8.self)
            if let close = text.lastIndex(of: ")") {
                let state = text[text.index(after: close)...].trimmingCharacters(in: " ").first
                if state == "Z" || state == "X" { return false }
            }
        }
        return true
    }

    /// The last lines of the engine's log, for error messages.
    package static func tail(of log: String, lines: Int = 5) -> String {
        guard let bytes = try? FileSystem.contents(log), !bytes.isEmpty else { return "no output in \(log)" }
        let text = String(decoding: bytes.suffix(4096), as: UTF8.self)
        return text.split(separator: "\n").suffix(lines).joined(separator: " | ")
    }
}
