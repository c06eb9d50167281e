#if canImport(Glibc)
    import Glibc
#endif
import CacheNodeCore

/// One DNS question (type A) sent over UDP straight to a given server, so that the servers an install configures are
/// checked rather than the ones this machine happens to use now.
enum DNSQuery {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// The server gave no answer at all (rather than a negative one).
        var isSilence = false
    }

    static func resolve(_ host: String, server: IPAddress, port: UInt16 = 53, timeoutSeconds: Int) -> Result<
        [IPAddress], DNSQuery.Failure
    > {
        guard case .v4(let value) = server else {
            return .failure(Failure(description: "(only IPv4 DNS servers are queried)"))
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(description: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = value.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return .failure(Failure(description: String(cString: strerror(errno)))) }
        let id = UInt16.random(in: 0...UInt16.max)
        let question = query(host, id: id)
        guard send(fd, question, question.count, 0) == question.count else {
            return .failure(Failure(description: "cannot send to \(server): \(String(cString: strerror(errno)))"))
        }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 1500)
        var waited: Int32 = 0
        while waited < Int32(timeoutSeconds) * 1000 {
            guard poll(&descriptor, 1, 100) > 0 else {
                waited += 100
                continue
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 {
                return .failure(
                    Failure(description: "gave no answer (\(String(cString: strerror(errno))))", isSilence: true)
                )
            }
            guard let answer = parse(Array(buffer[0..<count]), id: id) else { continue }
            return answer
        }
        return .failure(Failure(description: "gave no answer within \(timeoutSeconds) s", isSilence: true))
    }

    static func query(_ host: String, id: UInt16) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in host.split(separator: ".") {
            let utf8 = Array(label.utf8.prefix(63))
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        return bytes + [0, 0, 1, 0, 1]
    }

    /// The A records of a response to `id`; `nil` for a packet that is not one.
    static func parse(_ bytes: [UInt8], id: UInt16) -> Result<[IPAddress], DNSQuery.Failure>? {
        guard bytes.count >= 12, UInt16(bytes[0]) << 8 | UInt16(bytes[1]) == id, bytes[2] & 0x80 != 0 else {
            return nil
        }
        let rcode = bytes[3] & 0x0F
        guard rcode == 0 else {
            return .failure(
                Failure(description: rcode == 3 ? "does not exist (NXDOMAIN)" : "was refused (DNS error \(rcode))")
            )
        }
        let questions = Int(bytes[4]) << 8 | Int(bytes[5])
        let answers = Int(bytes[6]) << 8 | Int(bytes[7])
        var offset = 12
        func skipName() -> Bool {
            while offset < bytes.count {
                let length = bytes[offset]
                if length & 0xC0 == 0xC0 { offset += 2; return offset <= bytes.count }
                offset += 1
                if length == 0 { return true }
                offset += Int(length)
            }
            return false
        }
        for _ in 0..<questions {
            guard skipName() else { return .failure(Failure(description: "sent a malformed answer")) }
            offset += 4
        }
        var addresses: [IPAddress] = []
        for _ in 0..<answers {
            guard skipName(), offset + 10 <= bytes.count else { break }
            let type = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            let length = Int(bytes[offset + 8]) << 8 | Int(bytes[offset + 9])
            offset += 10
            guard offset + length <= bytes.count else { break }
            if type == 1, length == 4 {
                addresses.append(.v4(bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }))
            }
            offset += length
        }
        return addresses.isEmpty ? .failure(Failure(description: "has no address")) : .success(addresses)
    }
}
