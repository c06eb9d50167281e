import CacheProtocol
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One line per request in `<state>/logs/access.log`: client, method, path, range, status, bytes, cache, duration,
/// origin status, scheme (`http` or `https`: which listener the request arrived on).
package final class AccessLog: Sendable {
    /// One request's record.
    package struct Entry: Sendable {
        var client: String
        var method: String
        var target: String
        var range: String?
        var status: Int
        var bytes: Int64
        var outcome: EngineCounters.Outcome
        var milliseconds: Double
        var originStatus: String?
        var scheme = RequestScheme.http

        var line: String {
            let time = AccessLog.timestamp()
            let clean = target.filter { $0 != " " && $0 != "\n" && $0 != "\r" && $0 != "\"" }
            return "\(time) \(client) \(method) \"\(clean)\" range=\(range?.filter { $0 != " " } ?? "-") "
                + "\(status) \(bytes) \(outcome.rawValue) \(Double(Int(milliseconds * 10)) / 10)ms "
                + "origin=\(originStatus ?? "-") scheme=\(scheme.rawValue)\n"
        }
    }

    /// `2026-11-26T02:10:20Z`, without a formatter per line (the hit path writes one line per request).
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Where the log is, and when it rotates: past `maxBytes` the file becomes `access.log.1` (the older ones
    /// shift to `.2` ... and the oldest beyond `keep` is removed), so the log never fills the state drive.
    package struct Rotation: Sendable {
        package var maxBytes: Int64
        package var keep: Int

        /// 64 MiB a file and four old files: about 320 MiB at most, a day or more of a busy node's requests.
        package static let standard = Rotation(maxBytes: 64 << 20, keep: 4)

        package init(maxBytes: Int64, keep: Int) {
            self.maxBytes = maxBytes
            self.keep = keep
        }
    }

    private struct State {
        var fd: CInt
        var size: Int64
    }

    private let path: String?
    private let rotation: Rotation
    private let state: Mutex<State>

    /// Opens the log for appending, creating its directory; `nil` path logs nowhere.
    package init(path: String?, rotation: Rotation = .standard) throws(StoreError) {
        self.path = path
        self.rotation = rotation
        guard let path else {
            state = Mutex(State(fd: -1, size: 0))
            return
        }
        try FileIO.makeDirectories(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
        let fd = try Self.open(path)
        var info = stat()
        fstat(fd, &info)
        state = Mutex(State(fd: fd, size: Int64(info.st_size)))
    }

    private static func open(_ path: String) throws(StoreError) -> CInt {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.failure("open", path) }
        return fd
    }

    deinit {
        state.withLock { state in
            if state.fd >= 0 { close(state.fd) }
        }
    }

    func write(_ entry: Entry) {
        guard let path else { return }
        let line = entry.line
        state.withLock { state in
            guard state.fd >= 0 else { return }
            if state.size >= rotation.maxBytes { rotate(&state, path: path) }
            if (try? FileIO.writeAll(state.fd, line, path: "access.log")) != nil {
                state.size += Int64(line.utf8.count)
            }
        }
    }

    /// `access.log` -> `.1` -> `.2` ...; a failure keeps writing to the file it has (a full log beats no log).
    private func rotate(_ state: inout State, path: String) {
        unlink("\(path).\(rotation.keep)")
        for index in stride(from: rotation.keep - 1, through: 1, by: -1) {
            Glibc.rename("\(path).\(index)", "\(path).\(index + 1)")
        }
        guard rotation.keep > 0 ? Glibc.rename(path, "\(path).1") == 0 : unlink(path) == 0,
            let fd = try? Self.open(path)
        else {
            state.size = 0  // try again after another maxBytes, not on every line
            return
        }
        close(state.fd)
        state.fd = fd
        state.size = 0
    }
}
