import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Child processes for tests, started with `posix_spawn`.
///
/// Foundation's `Process.run()` on Linux reads `/proc/self/fd` past the end of a directory entry and crashes now and
/// then (swift-corelibs-foundation PR 5472, Swift 6.3.1); tests start many processes, so they never use it.
package final class ChildProcess: @unchecked Sendable {
    /// What a finished command printed, and how it ended.
    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    package let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `arguments` (the program by absolute path, or found on `PATH`) with stdin from `/dev/null` and stdout and
    /// stderr appended to `outputPath` (or `/dev/null`).
    package convenience init(
        _ arguments: [String],
        outputPath: String? = nil,
        directory: String? = nil,
        environment: [String: String] = [:]
    ) throws {
        var files = FileActions()
        files.open(0, "/dev/null", O_RDONLY)
        files.open(1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND)
        files.duplicate(1, as: 2)
        if let directory { files.changeDirectory(directory) }
        try self.init(arguments, files: &files, environment: environment)
    }

    private init(_ arguments: [String], files: inout FileActions, environment: [String: String]) throws {
        guard let program = arguments.first else { throw Failure(description: "no program to run") }
        // Descriptors the test process opened without close-on-exec (listening sockets of test origins, kept-alive
        // connections) must not live on in the child: a server the test closed would still accept through it.
        files.closeFrom(3)
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child starts with no signal blocked and every signal at its default (the test process ignores SIGPIPE
        // and its threads may block signals), as a program started from a shell does.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, program, &files.actions, &attributes, &argv, &envp)
        files.destroy()
        guard result == 0 else {
            throw Failure(description: "cannot start \(program): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    /// Runs `arguments` to the end: `stdin` written to it, stdout and stderr captured apart; `started` gets the pid
    /// (to set a watchdog on a program that could hang).
    package static func run(
        _ arguments: [String],
        directory: String? = nil,
        stdin: String? = nil,
        environment: [String: String] = [:],
        started: (pid_t) -> Void = { _ in }
    ) throws -> Result {
        // A child that exits before reading all of `stdin` must not end the test process with SIGPIPE.
        _ = ignoreBrokenPipes
        let input = try Pipe.make()
        let output = try Pipe.make()
        let errors = try Pipe.make()
        var files = FileActions()
        files.duplicate(input.read, as: 0)
        files.duplicate(output.write, as: 1)
        files.duplicate(errors.write, as: 2)
        if let directory { files.changeDirectory(directory) }
        let child: ChildProcess
        do {
            child = try ChildProcess(arguments, files: &files, environment: environment)
        } catch {
            [input.read, input.write, output.read, output.write, errors.read, errors.write].forEach { _ = close($0) }
            throw error
        }
        [input.read, output.write, errors.write].forEach { _ = close($0) }
        started(child.pid)
        let (stdout, stderr) = Pipe.exchange(
            Array((stdin ?? "").utf8),
            to: input.write,
            out: output.read,
            err: errors.read
        )
        return Result(
            status: child.waitUntilExit(),
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }

    private static let ignoreBrokenPipes: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    /// Whether the process still runs (a finished one is reaped here and its status kept).
    package var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        guard reaped == pid else { return reaped == 0 }
        exitStatus = Self.decode(status)
        return false
    }

    /// Waits for the end; the exit status, or 128 + the signal that ended it.
    @discardableResult
    package func waitUntilExit() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let decoded = Self.decode(status)
        exitStatus = decoded
        return decoded
    }

    /// Sends `signal` unless the process already ended.
    package func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    private static func decode(_ status: Int32) -> Int32 {
        (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            waitUntilExit()
        }
    }
}

/// `posix_spawn_file_actions_t`, for one spawn.
private struct FileActions {
    var actions = posix_spawn_file_actions_t()

    init() { posix_spawn_file_actions_init(&actions) }

    mutating func open(_ descriptor: Int32, _ path: String, _ flags: Int32) {
        posix_spawn_file_actions_addopen(&actions, descriptor, path, flags, 0o644)
    }

    mutating func duplicate(_ descriptor: Int32, as target: Int32) {
        posix_spawn_file_actions_adddup2(&actions, descriptor, target)
    }

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29), which the Glibc module does not export.
    private static let addChangeDirectory:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
            else { return nil }
            return unsafeBitCast(
                symbol,
                to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)
                    .self
            )
        }()

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which the Glibc module does not export.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
            else { return nil }
            return unsafeBitCast(
                symbol,
                to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self
            )
        }()

    mutating func closeFrom(_ lowest: Int32) {
        guard let addCloseFrom = Self.addCloseFrom else {
            preconditionFailure("this C library cannot close a child's inherited descriptors")
        }
        _ = addCloseFrom(&actions, lowest)
    }

    mutating func changeDirectory(_ path: String) {
        guard let addChangeDirectory = Self.addChangeDirectory else {
            preconditionFailure("this C library cannot set a child's working directory")
        }
        _ = addChangeDirectory(&actions, path)
    }

    mutating func destroy() { posix_spawn_file_actions_destroy(&actions) }
}

/// A pipe whose ends close on exec (the child gets only the ends duplicated onto 0, 1 and 2).
private struct Pipe {
    var read: Int32
    var write: Int32

    static func make() throws -> Pipe {
        var ends: [Int32] = [0, 0]
        guard Glibc.pipe(&ends) == 0 else {
            throw ChildProcess.Failure(description: "pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return Pipe(read: ends[0], write: ends[1])
    }

    /// Writes `input` to `to` while reading `out` and `err` to their ends (a child that prints a lot before reading
    /// its input cannot block on a full pipe); closes all three.
    static func exchange(_ input: [UInt8], to: Int32, out: Int32, err: Int32) -> ([UInt8], [UInt8]) {
        var collected: [Int32: [UInt8]] = [out: [], err: []]
        var written = 0
        var inputOpen = true
        if input.isEmpty {
            close(to)
            inputOpen = false
        }
        var open: Set<Int32> = [out, err]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty || inputOpen {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if inputOpen { polls.append(pollfd(fd: to, events: Int16(POLLOUT), revents: 0)) }
            if poll(&polls, nfds_t(polls.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for item in polls where item.revents != 0 {
                if item.fd == to {
                    let count = input[written...].withUnsafeBytes { Glibc.write(to, $0.baseAddress, $0.count) }
                    if count > 0 { written += count }
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 || written == input.count {
                        close(to)
                        inputOpen = false
                    }
                } else {
                    let count = Glibc.read(item.fd, &buffer, buffer.count)
                    if count < 0 && errno == EINTR { continue }
                    if count <= 0 {
                        close(item.fd)
                        open.remove(item.fd)
                    } else {
                        collected[item.fd, default: []] += buffer[0..<count]
                    }
                }
            }
        }
        return (collected[out] ?? [], collected[err] ?? [])
    }
}
