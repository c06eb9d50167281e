/// A request head as the engine judges it before it reads anything after it: method, version and header fields.
///
/// The engine takes no request bodies, so a head that announces one is answered at once and the connection closes;
/// `Host` follows RFC 9112 3.2 (one on every HTTP/1.1 request, never two, always a valid `host[:port]`).
package struct RequestHead: Sendable {
    package var method: String
    package var major: Int
    package var minor: Int
    package var headers: [(name: String, value: String)]

    package init(method: String, major: Int = 1, minor: Int = 1, headers: [(name: String, value: String)]) {
        self.method = method
        self.major = major
        self.minor = minor
        self.headers = headers
    }

    /// The values of every field named `name` (case-insensitive), one per field line.
    package func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name }.map(\.value)
    }

    /// Whether a body follows the head: any `Transfer-Encoding`, or a `Content-Length` other than 0.
    package var announcesBody: Bool {
        if !values("transfer-encoding").isEmpty { return true }
        return values("content-length").contains { value in
            let trimmed = value.trimmingCharacters(in: " \t")
            return trimmed.isEmpty || !trimmed.allSatisfy { $0 == "0" }
        }
    }

    /// Why the request is answered without looking further, or `nil` when it goes on to the cache.
    package var refusal: RequestRefusal? {
        guard method == "GET" || method == "HEAD" else {
            return RequestRefusal(status: 405, reason: "only GET and HEAD are served", closesConnection: announcesBody)
        }
        if announcesBody {
            return RequestRefusal(status: 400, reason: "GET and HEAD requests take no body", closesConnection: true)
        }
        let hosts = values("host")
        if hosts.count > 1 {
            return RequestRefusal(status: 400, reason: "the request has \(hosts.count) Host headers; one is allowed")
        }
        if hosts.isEmpty, (major, minor) >= (1, 1) {
            return RequestRefusal(status: 400, reason: "an HTTP/1.1 request needs a Host header")
        }
        if let host = hosts.first, !Self.isValidHost(host) {
            return RequestRefusal(status: 400, reason: "the Host header is not a host[:port]")
        }
        return nil
    }

    /// Whether `value` is a `Host` field value: empty, or `uri-host [":" port]` (RFC 9110 7.2, RFC 3986 3.2.2).
    package static func isValidHost(_ value: String) -> Bool {
        let text = value.trimmingCharacters(in: " \t")
        if text.isEmpty { return true }
        var host = Substring(text)
        var port: Substring = ""
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return false }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            if !rest.isEmpty {
                guard rest.first == ":" else { return false }
                port = rest.dropFirst()
            }
        } else {
            if let colon = text.firstIndex(of: ":") {
                host = text[..<colon]
                port = text[text.index(after: colon)...]
            }
            guard !host.isEmpty, Self.isRegName(host) else { return false }
        }
        return port.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// RFC 3986 `reg-name`: unreserved characters, percent-encodings and sub-delimiters.
    private static func isRegName(_ text: Substring) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, isHex(bytes[index + 1]), isHex(bytes[index + 2]) else { return false }
                index += 3
                continue
            }
            let isAlphanumeric =
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            guard isAlphanumeric || "-._~!$&'()*+,;=".utf8.contains(byte) else { return false }
            index += 1
        }
        return true
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
    }
}

/// A request answered from its head alone: 400 or 405, with one line of reason.
package struct RequestRefusal: Equatable, Sendable {
    package var status: Int
    package var reason: String
    /// The connection closes after the answer, so whatever follows the head (a body) is never read.
    package var closesConnection: Bool

    package init(status: Int, reason: String, closesConnection: Bool = false) {
        self.status = status
        self.reason = reason
        self.closesConnection = closesConnection
    }
}
