import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// A response read off the wire by `TestHTTPClient`.
package struct TestResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)]
    package var body: [UInt8]
    /// False when the connection ended before `Content-Length` bytes arrived.
    package var complete: Bool

    package func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A deliberately plain HTTP/1.1 client on blocking sockets (on its own thread pool): exact bytes, raw requests.
package enum TestHTTPClient {
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 48)
        pool.start()
        return pool
    }()

    /// Runs blocking work (sockets, child processes) off the cooperative pool, which the engine needs.
    package static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Sends one request with `Connection: close` and reads the whole response.
    package static func get(
        port: Int,
        _ target: String,
        method: String = "GET",
        headers: [(String, String)] = []
    ) async throws -> TestResponse {
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = try await raw(port: port, Array(request.utf8))
        return try parse(bytes, head: method == "HEAD")
    }

    /// Sends raw bytes and returns everything the server sends until it closes.
    package static func raw(port: Int, _ request: [UInt8], pauseAfter: Int? = nil) async throws -> [UInt8] {
        try await pool.runIfActive {
            let fd = try connect(port: port)
            defer { close(fd) }
            try send(fd, request)
            return try receiveAll(fd)
        }
    }

    /// Opens a connection and returns its descriptor (for idle and keep-alive tests); close it with `close(_:)`.
    /// `receiveBuffer` fixes the socket's receive buffer before the handshake (a client that reads slowly or not at
    /// all); set later, a small buffer also shrinks the window to a crawl for what is still in flight.
    package static func connect(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPError.socket(errno) }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw TestHTTPError.socket(code)
        }
        return fd
    }

    package static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { throw TestHTTPError.socket(errno) }
            offset += count
        }
    }

    package static func receiveAll(_ fd: Int32) throws -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return result }
                throw TestHTTPError.socket(errno)
            }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
        }
    }

    /// Parses one response from bytes that end where the server closed.
    package static func parse(_ bytes: [UInt8], head isHead: Bool = false) throws -> TestResponse {
        try parseOne(bytes[...], head: isHead).response
    }

    /// Parses every response on a connection (pipelined or kept alive), in order, until the bytes end.
    package static func parseAll(_ bytes: [UInt8]) throws -> [TestResponse] {
        var responses: [TestResponse] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            let (response, consumed) = try parseOne(rest, head: false)
            responses.append(response)
            rest = rest.dropFirst(consumed)
        }
        return responses
    }

    /// One response and the number of bytes it took.
    private static func parseOne(_ bytes: ArraySlice<UInt8>, head isHead: Bool) throws -> (
        response: TestResponse, consumed: Int
    ) {
        let bytes = Array(bytes)
        guard let end = find([13, 10, 13, 10], in: bytes) else {
            throw TestHTTPError.malformed(String(decoding: bytes.prefix(200), as: UTF8.self))
        }
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw TestHTTPError.malformed(String(lines[0]))
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append(
                (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            )
        }
        var body = Array(bytes[(end + 4)...])
        var consumed = bytes.count
        var complete = true
        if isHead {
            body = []
            consumed = end + 4
        } else if headers.contains(where: {
            $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().hasSuffix("chunked")
        }) {
            let (data, used, whole) = dechunk(body)
            body = data
            complete = whole
            consumed = end + 4 + used
        } else if let length = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }) {
            if body.count < length {
                complete = false
            } else {
                body = Array(body.prefix(length))
                consumed = end + 4 + length
            }
        }
        return (TestResponse(status: status, headers: headers, body: body, complete: complete), consumed)
    }

    /// The data of a chunked body, the bytes it took, and whether its last chunk arrived.
    static func dechunk(_ bytes: [UInt8]) -> (data: [UInt8], consumed: Int, complete: Bool) {
        var data: [UInt8] = []
        var position = 0
        while let lineEnd = find([13, 10], in: Array(bytes[position...])) {
            let sizeText =
                String(decoding: bytes[position..<(position + lineEnd)], as: UTF8.self).split(separator: ";").first
                ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                return (data, position, false)
            }
            position += lineEnd + 2
            if size == 0 {
                // The last chunk, then an empty trailer section.
                return (data, min(bytes.count, position + 2), true)
            }
            guard bytes.count - position >= size + 2 else {
                data += bytes[position...].prefix(size)
                return (data, bytes.count, false)
            }
            data += bytes[position..<(position + size)]
            position += size + 2
        }
        return (data, bytes.count, false)
    }

    package static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<(index + needle.count)]) == needle { return index }
        }
        return nil
    }
}

package enum TestHTTPError: Error {
    case socket(Int32)
    case malformed(String)
}

extension Substring {
    fileprivate func trimmingCharacters(in set: WhitespaceSet) -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

enum WhitespaceSet {
    case whitespaces
}
