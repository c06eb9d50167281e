import CacheProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One line per request in `<state>/logs/access.log`: client, method, path, range, status, bytes, cache, duration, origin status.
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

        var line: String {
            let time = AccessLog.timestamp()
            let clean = target.filter { $0 != " " && $0 != "\n" && $0 != "\r" && $0 != "\"" }
            return "\(time) \(client) \(method) \"\(clean)\" range=\(range?.filter { $0 != " " } ?? "-") "
                + "\(status) \(bytes) \(outcome.rawValue) \(Double(Int(milliseconds * 10)) / 10)ms "
                + "origin=\(originStatus ?? "-")\n"
        }
    }

    private let fd: CInt

    /// `2026-11-26T02:10:20Z`, without a formatter per line (the hit path writes one line per request).
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Opens the log for appending, creating its directory; `nil` path logs nowhere.
    package init(path: String?) throws(StoreError) {
        guard let path else {
            fd = -1
            return
        }
        try FileIO.makeDirectories(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.failure("open", path) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func write(_ entry: Entry) {
        guard fd >= 0 else { return }
        try? FileIO.writeAll(fd, entry.line, path: "access.log")
    }
}
