#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// A small blocking HTTP/1.1 client for health checks and the self-test: one request, `Connection: close`.
package enum HTTPProbe {
    package struct Response: Sendable {
        package var status: Int
        package var headers: [(name: String, value: String)]
        package var body: [UInt8]

        package func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    package enum Failure: Error, Sendable, CustomStringConvertible {
        case connect(String)
        case timeout
        case malformed(String)

        package var description: String {
            switch self {
            case .connect(let reason): "cannot connect: \(reason)"
            case .timeout: "no answer in time"
            case .malformed(let what): "not an HTTP answer: \(what)"
            }
        }
    }

    /// Where to connect for a listener: its own address, or loopback for a wildcard.
    package static func target(for listen: ListenAddress) -> ListenAddress {
        guard let address = listen.address, address.scope == .unspecified else { return listen }
        return ListenAddress(host: address.isIPv4 ? "127.0.0.1" : "::1", port: listen.port)
    }

    package static func get(
        _ target: ListenAddress,
        path: String,
        headers: [(String, String)] = [],
        timeoutSeconds: Int = 10,
        maximumBody: Int = 16 << 20
    ) throws(Failure) -> Response {
        guard let address = target.address else { throw .connect("\(target.host) is not an IP address") }
        let fd = socket(address.isIPv4 ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .connect(String(cString: strerror(errno))) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected: Int32
        switch address {
        case .v4(let value):
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(target.port).bigEndian)
            socketAddress.sin_addr.s_addr = value.bigEndian
            connected = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let bytes):
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(target.port).bigEndian)
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: bytes) }
            connected = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        guard connected == 0 else {
            if errno == EINPROGRESS || errno == ETIMEDOUT { throw .timeout }
            throw .connect(String(cString: strerror(errno)))
        }
        var request = "GET \(path) HTTP/1.1\r\nHost: \(target)\r\nConnection: close\r\n"
        request += "User-Agent: cachenode-setup\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { throw errno == EAGAIN ? .timeout : .connect(String(cString: strerror(errno))) }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < maximumBody + 65536 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timeout }
                break
            }
            if count == 0 { break }
            received += buffer[0..<count]
            // A server that keeps the connection open despite `Connection: close` is done once the body is in.
            if let expected = expectedLength(received), received.count >= expected { break }
        }
        return try parse(received)
    }

    /// Header and body length together, once the head is complete and announces a Content-Length.
    static func expectedLength(_ bytes: [UInt8]) -> Int? {
        let separator: [UInt8] = [13, 10, 13, 10]
        let searched = bytes.prefix(65536)
        guard searched.count >= 4,
            let end = (0...(searched.count - 4)).first(where: {
                searched[$0] == 13 && Array(searched[$0..<$0 + 4]) == separator
            })
        else { return nil }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).lowercased()
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            if let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: " \t")) {
                return end + 4 + length
            }
        }
        return nil
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            throw .malformed(bytes.isEmpty ? "the connection closed without an answer" : "no end of headers")
        }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).split(separator: "\r\n").map(String.init)
        guard let statusLine = head.first, statusLine.hasPrefix("HTTP/1."),
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw .malformed("status line '\(head.first ?? "")'") }
        let headers = head.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: " \t"))
        }
        var body = Array(bytes[(end + 4)...])
        if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
            guard body.count >= length else { throw .malformed("body of \(body.count) bytes, \(length) announced") }
            body = Array(body.prefix(length))
        }
        return Response(status: status, headers: headers, body: body)
    }
}
