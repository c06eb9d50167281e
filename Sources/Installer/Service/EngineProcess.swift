#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// The engine as a background process of a `--root` install: started detached, recorded in a pid file.
package enum EngineProcess {
    /// Starts `binary serve --config config`, its output appended to `log`, and records the pid.
    package static func start(binary: String, config: String, log: String, pidFile: String) throws(InstallError)
        -> pid_t
    {
        try FileSystem.makeDirectories(String(log[..<(log.lastIndex(of: "/") ?? log.startIndex)]))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o640)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of setup's reaches the engine: an inherited pipe would keep setup's caller waiting for EOF.
        closeOnExec(from: 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // glibc's POSIX_SPAWN_SETSID (0x80) is hidden behind _GNU_SOURCE: a new session outlives setup.
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let arguments = [binary, "serve", "--config", config]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, binary, &actions, &attributes, &argv, environ)
        guard result == 0 else {
            throw .engine(problem: "cannot start \(binary): \(String(cString: strerror(result)))")
        }
        try FileSystem.writeAtomically(pidFile, Array("\(pid)\n".utf8))
        return pid
    }

    /// Marks every descriptor from `first` on close-on-exec, so a spawned child inherits none of them.
    static func closeOnExec(from first: Int32) {
        for entry in FileSystem.listDirectory("/proc/self/fd") {
            guard let fd = Int32(entry), fd >= first else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Waits until the admin listener answers `/health`, or the process ends, within `attempts` tries.
    package static func waitUntilReady(pid: pid_t, admin: ListenAddress, log: String, attempts: Int = 300)
        throws(InstallError)
    {
        let target = HTTPProbe.target(for: admin)
        for _ in 0..<attempts {
            if !isAlive(pid) {
                throw .engine(problem: "it exited during start-up: \(tail(of: log))")
            }
            if let response = try? HTTPProbe.get(target, path: "/health", timeoutSeconds: 2), response.status == 200 {
                return
            }
            usleep(50_000)
        }
        throw .engine(problem: "/health on \(target) did not answer 200 after start: \(tail(of: log))")
    }

    /// The pid recorded in `pidFile`, when that process is a running cache engine.
    package static func running(pidFile: String) -> pid_t? {
        guard let bytes = try? FileSystem.contents(pidFile),
            let pid = pid_t(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \n")), pid > 0,
            isAlive(pid)
        else { return nil }
        guard let cmdline = try? FileSystem.contents("/proc/\(pid)/cmdline") else { return nil }
        let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains("serve") && arguments.contains("--config") ? pid : nil
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
