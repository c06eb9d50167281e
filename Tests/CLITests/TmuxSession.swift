import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A shell in a private tmux server (its own `-L` socket), driven like a person at a terminal.
final class TmuxSession {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// How long a wait goes on before the test reports what the pane shows instead of hanging.
    static let hangGuard = Duration.seconds(30)

    let socket = "cachenode-test-\(UUID().uuidString.prefix(8))"
    let name = "wizard"

    /// Starts `sh` with a `$ ` prompt in a `cols`x`rows` window.
    init(cols: Int = 100, rows: Int = 30, environment: [String: String] = [:]) throws {
        var arguments = ["new-session", "-d", "-s", name, "-x", "\(cols)", "-y", "\(rows)"]
        for (key, value) in environment.merging(["LANG": "C.UTF-8", "PS1": "$ "], uniquingKeysWith: { a, _ in a }) {
            arguments += ["-e", "\(key)=\(value)"]
        }
        arguments += ["sh"]
        try tmux(arguments)
        try tmux(["set-option", "-t", name, "window-size", "manual"])
    }

    deinit {
        _ = try? tmux(["kill-server"])
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(directory)/tmux-\(getuid())/\(socket)")
    }

    /// Runs a command line in the shell, followed by `echo EXIT=$?`.
    func run(_ commandLine: String) throws {
        try type(commandLine + "; echo EXIT=$?")
        try send("Enter")
    }

    /// Sends named keys (`Enter`, `Up`, `BTab`, `F1`, `C-c`, ...).
    func send(_ keys: String...) throws {
        try tmux(["send-keys", "-t", name] + keys)
    }

    /// Types text literally.
    func type(_ text: String) throws {
        try tmux(["send-keys", "-t", name, "-l", "--", text])
    }

    func resize(cols: Int, rows: Int) throws {
        try tmux(["resize-window", "-t", name, "-x", "\(cols)", "-y", "\(rows)"])
    }

    /// The pane's text, with its scrollback; with `escapes`, the terminal sequences of its attributes and character
    /// sets too (line drawing through ACS shows as `SO` ... `SI` around the letters that stand for the lines).
    func capture(escapes: Bool = false) throws -> String {
        try tmux(["capture-pane", "-p", "-S", "-1000"] + (escapes ? ["-e"] : []) + ["-t", name])
    }

    /// The statuses the shell printed so far (`EXIT=N` lines), oldest first.
    func exitStatuses() throws -> [Int32] {
        try capture().split(separator: "\n").compactMap { line in
            line.hasPrefix("EXIT=") ? Int32(line.dropFirst("EXIT=".count)) : nil
        }
    }

    /// Waits for the `count`-th command to end; returns its status.
    func waitForExit(_ count: Int = 1) throws -> Int32 {
        let giveUp = ContinuousClock.now + Self.hangGuard
        while ContinuousClock.now < giveUp {
            let statuses = try exitStatuses()
            if statuses.count >= count { return statuses[count - 1] }
            usleep(50_000)
        }
        throw Failure(description: "command \(count) never ended; the pane shows:\n\(try capture())")
    }

    /// Polls the pane until it shows `text`; gives up only after a long guard against hangs, never as a speed check.
    @discardableResult
    func waitFor(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        var screen = ""
        let giveUp = ContinuousClock.now + Self.hangGuard
        while ContinuousClock.now < giveUp {
            screen = try capture()
            if screen.contains(text) { return screen }
            usleep(50_000)
        }
        throw Failure(description: "the pane never showed \(text.debugDescription); it shows:\n\(screen)")
    }

    /// Polls the pane until it shows one of `texts`; returns the first it shows.
    func waitForAny(_ texts: [String]) throws -> String {
        var screen = ""
        let giveUp = ContinuousClock.now + Self.hangGuard
        while ContinuousClock.now < giveUp {
            screen = try capture()
            if let text = texts.first(where: screen.contains) { return text }
            usleep(50_000)
        }
        throw Failure(description: "the pane never showed any of \(texts); it shows:\n\(screen)")
    }

    /// The process the shell runs in the pane (its first child), if any.
    func foregroundPID() throws -> pid_t? {
        let shell = try tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { pid_t($0) }
    }

    /// The first process below the pane's shell whose command name is `name` (`/proc/PID/comm`), if any.
    func descendantPID(named name: String) throws -> pid_t? {
        let shell = try tmux(["display-message", "-p", "-t", self.name, "#{pane_pid}"])
        var queue = [shell.trimmingCharacters(in: .whitespacesAndNewlines)]
        while !queue.isEmpty {
            let pid = queue.removeFirst()
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").map(String.init) {
                let command = (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8)) ?? ""
                if command.trimmingCharacters(in: .whitespacesAndNewlines) == name { return pid_t(child) }
                queue.append(child)
            }
        }
        return nil
    }

    /// Runs tmux through `popen`: the server new-session starts gets /dev/null, never a pipe a reader waits on.
    @discardableResult
    private func tmux(_ arguments: [String]) throws -> String {
        let quoted = (["env", "-u", "TMUX", "tmux", "-L", socket, "-f", "/dev/null"] + arguments).map { argument in
            "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        let starts = arguments.first == "new-session"
        let command = quoted.joined(separator: " ") + (starts ? " </dev/null >/dev/null 2>&1" : " </dev/null 2>&1")
        guard let stream = popen(command, "r") else { throw Failure(description: "cannot run \(command)") }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, stream)
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        let status = pclose(stream)
        let text = String(decoding: output, as: UTF8.self)
        guard status == 0 || arguments.first == "kill-server" else {
            throw Failure(description: "tmux \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text
    }
}
