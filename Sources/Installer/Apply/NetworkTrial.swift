#if canImport(Glibc)
    import Glibc
#endif

/// A network change kept only if the operator confirms it in time, as `netplan try` does: a transient systemd timer
/// puts the network back by itself if setup is gone when the deadline passes.
package enum NetworkTrial {
    /// Records how to put the network back and starts the safety timer, a little after setup's own deadline.
    static func arm(_ revert: NetworkRevert, binary: String, seconds: Int, runner: any CommandRunning)
        async throws(InstallError)
    {
        try FileSystem.makeDirectories(NetworkRevert.directory)
        try FileSystem.remove(NetworkRevert.confirmedPath)
        try FileSystem.writeAtomically(NetworkRevert.pendingPath, revert.encoded(), mode: 0o600)
        _ = await runner.run(["systemctl", "stop", NetworkRevert.timerUnit + ".timer"])
        _ = await runner.run(["systemctl", "reset-failed", NetworkRevert.timerUnit + ".service"])
        let result = await runner.run([
            "systemd-run", "--unit", NetworkRevert.timerUnit, "--on-active", "\(seconds + 15)s",
            "--timer-property=AccuracySec=1s", "--description",
            "Put the network back unless setup's change is confirmed",
            binary, "network-revert",
        ])
        guard result.status == 0 else {
            try? FileSystem.remove(NetworkRevert.pendingPath)
            throw .command(
                step: "network",
                problem: "cannot start the revert timer: systemd-run exited \(result.status): \(result.output)"
            )
        }
    }

    /// Stops the timer and forgets the revert: the change is kept (or was already put back).
    static func disarm(runner: any CommandRunning) async {
        _ = await runner.run(["systemctl", "stop", NetworkRevert.timerUnit + ".timer"])
        try? FileSystem.remove(NetworkRevert.pendingPath)
        try? FileSystem.remove(NetworkRevert.confirmedPath)
    }

    /// Marks the pending change as confirmed; `false` when no change waits.
    package static func confirm() throws(InstallError) -> Bool {
        guard FileSystem.exists(NetworkRevert.pendingPath) else { return false }
        try FileSystem.writeAtomically(NetworkRevert.confirmedPath, Array("confirmed\n".utf8), mode: 0o600)
        return true
    }

    /// Waits up to `seconds` for `cachenode confirm-network`, or for Enter on standard input when it is a terminal;
    /// `tick` gets the seconds left once a second.
    static func waitForConfirmation(seconds: Int, terminal: Bool, tick: (Int) -> Void) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int(deadline.tv_sec) + seconds
        var lastTick = -1
        while true {
            if FileSystem.exists(NetworkRevert.confirmedPath) { return true }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - Int(now.tv_sec)
            if left <= 0 { return false }
            if left != lastTick {
                lastTick = left
                tick(left)
            }
            if terminal, enterPressed(waitingMilliseconds: 200) { return true }
            if !terminal { usleep(200_000) }
        }
    }

    /// Whether Enter arrived on standard input within the wait; other keys are read and dropped.
    private static func enterPressed(waitingMilliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, waitingMilliseconds) > 0, descriptor.revents & Int16(POLLIN) != 0 else {
            if descriptor.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                usleep(UInt32(waitingMilliseconds) * 1000)
            }
            return false
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(STDIN_FILENO, &buffer, buffer.count)
        if count <= 0 {
            // The terminal is gone (the operator's connection dropped): only the file can confirm now.
            usleep(UInt32(waitingMilliseconds) * 1000)
            return false
        }
        return buffer[0..<count].contains { $0 == 10 || $0 == 13 }
    }
}
