#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address, parsed strictly (no octal, hex or shortened IPv4 forms).
package enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6([UInt8])

    /// Parses `10.0.0.1` or `fe80::1`; `nil` for anything else, including `010.0.0.1` and `10.1`.
    package init?(_ text: String) {
        if text.contains(":") {
            var storage = in6_addr()
            guard text.utf8.count <= 45, inet_pton(AF_INET6, text, &storage) == 1 else { return nil }
            self = .v6(withUnsafeBytes(of: &storage) { Array($0) })
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber),
                !(part.count > 1 && part.first == "0"), let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        self = .v4(value)
    }

    package var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    package var bitWidth: Int { isIPv4 ? 32 : 128 }

    package var description: String {
        switch self {
        case .v4(let value):
            return [24, 16, 8, 0].map { String((value >> UInt32($0)) & 0xFF) }.joined(separator: ".")
        case .v6(let bytes):
            var storage = in6_addr()
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The embedded IPv4 address of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    package var mappedIPv4: IPAddress? {
        guard case .v6(let bytes) = self, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF,
            bytes[11] == 0xFF
        else { return nil }
        return .v4(bytes[12...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }
}

extension IPAddress {
    /// Where an address points, for deciding whether the engine may fetch from it.
    package enum Scope: String, Sendable {
        case unspecified
        case loopback
        case linkLocal = "link-local"
        case `private`
        case sharedAddressSpace = "shared address space"
        case cloudMetadata = "cloud metadata"
        case multicast
        case reserved
        case global
    }

    package var scope: Scope {
        if let mapped = mappedIPv4 { return mapped.scope }
        switch self {
        case .v4(let value):
            if value == 0xA9FE_A9FE { return .cloudMetadata }  // 169.254.169.254
            let rules: [(UInt32, UInt32, Scope)] = [
                (0x0000_0000, 8, .unspecified), (0x7F00_0000, 8, .loopback), (0xA9FE_0000, 16, .linkLocal),
                (0x0A00_0000, 8, .private), (0xAC10_0000, 12, .private), (0xC0A8_0000, 16, .private),
                (0x6440_0000, 10, .sharedAddressSpace), (0xE000_0000, 4, .multicast), (0xF000_0000, 4, .reserved),
                (0xC000_0000, 24, .reserved), (0xC612_0000, 15, .reserved),
            ]
            for (network, prefix, scope) in rules where value >> (32 - prefix) == network >> (32 - prefix) {
                return scope
            }
            return .global
        case .v6(let bytes):
            if bytes.allSatisfy({ $0 == 0 }) { return .unspecified }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return .loopback }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return .linkLocal }
            if bytes[0] & 0xFE == 0xFC { return .private }
            if bytes[0] == 0xFF { return .multicast }
            if bytes[0] == 0xFD && bytes[1] == 0x00 && bytes[2...14].allSatisfy({ $0 == 0 }) && bytes[15] == 0xFE {
                return .cloudMetadata  // fd00:ec2::254 family
            }
            return .global
        }
    }
}

/// An address with its prefix length, as `10.0.0.50/24`.
package struct IPInterface: Hashable, Sendable, CustomStringConvertible {
    package var address: IPAddress
    package var prefix: Int

    package init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])),
            parts[1].allSatisfy(\.isNumber), parts[1].count <= 3, let prefix = Int(parts[1]),
            (0...address.bitWidth).contains(prefix)
        else { return nil }
        self.address = address
        self.prefix = prefix
    }

    package var description: String { "\(address)/\(prefix)" }

    /// Whether `other` lies in this interface's subnet.
    package func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case (.v4(let mine), .v4(let theirs)):
            return prefix == 0 || mine >> UInt32(32 - prefix) == theirs >> UInt32(32 - prefix)
        case (.v6(let mine), .v6(let theirs)):
            for bit in 0..<prefix {
                let mask = UInt8(0x80) >> UInt8(bit % 8)
                if mine[bit / 8] & mask != theirs[bit / 8] & mask { return false }
            }
            return true
        default:
            return false
        }
    }

    /// The IPv4 network address (all host bits clear); `nil` for IPv6.
    package var networkAddress: IPAddress? {
        guard case .v4(let value) = address else { return nil }
        return .v4(prefix == 0 ? 0 : value & ~UInt32(0) << UInt32(32 - prefix))
    }

    /// The IPv4 broadcast address (all host bits set); `nil` for IPv6.
    package var broadcastAddress: IPAddress? {
        guard case .v4(let value) = address else { return nil }
        return .v4(prefix == 0 ? ~0 : value | ~(~UInt32(0) << UInt32(32 - prefix)))
    }
}

/// A listener address, `host:port` or `[v6]:port`.
package struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `0.0.0.0:80`, `127.0.0.1:5000`, `[::]:80`; the host must be an IP address.
    package init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return nil
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(String(host)), address.isIPv4 == !text.hasPrefix("["),
            !port.isEmpty, port.count <= 5, port.allSatisfy(\.isNumber), let number = Int(port),
            (1...65535).contains(number)
        else { return nil }
        self.host = String(host)
        self.port = number
    }

    package var address: IPAddress? { IPAddress(host) }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether two listeners would try to bind the same port on overlapping addresses.
    package func clashes(with other: ListenAddress) -> Bool {
        guard port == other.port, let mine = address, let theirs = other.address else { return false }
        return mine == theirs || mine.scope == .unspecified || theirs.scope == .unspecified
    }
}
