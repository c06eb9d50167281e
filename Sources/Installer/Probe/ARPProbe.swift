#if canImport(Glibc)
    import Glibc
#endif

/// Asks who has an IPv4 address on one interface, with an ARP probe (sender address 0.0.0.0, RFC 5227), so that
/// nothing learns an address this machine does not have yet. Needs CAP_NET_RAW (setup runs as root).
enum ARPProbe {
    enum Answer: Equatable {
        /// The MAC address that answered, as `aa:bb:cc:dd:ee:ff`.
        case answered(String)
        case silent
        case failed(String)
    }

    static let etherTypeARP: UInt16 = 0x0806

    static func ask(interface: String, target: UInt32, timeoutSeconds: Int, probes: Int = 3) -> Answer {
        let index = if_nametoindex(interface)
        guard index > 0 else { return .failed("no interface \(interface)") }
        guard let mac = ownMAC(interface) else { return .failed("\(interface) has no hardware address") }
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue), Int32(etherTypeARP.bigEndian))
        guard fd >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(fd) }

        // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
        var link = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { link.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: etherTypeARP.bigEndian) { link.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(index)) { link.replaceSubrange(4..<8, with: $0) }
        link[11] = 6
        for i in 12..<18 { link[i] = 0xFF }
        let bound = link.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(link.count))
        }
        guard bound == 0 else { return .failed(String(cString: strerror(errno))) }

        let request = packet(operation: 1, senderMAC: mac, senderIP: 0, targetIP: target)
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let start = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
        let end = start + Double(timeoutSeconds)
        var nextProbe = start
        var sentProbes = 0
        while true {
            clock_gettime(CLOCK_MONOTONIC, &clock)
            let now = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
            if now >= end { return .silent }
            if sentProbes < probes, now >= nextProbe {
                let sent = request.withUnsafeBytes { bytes in
                    link.withUnsafeBytes {
                        sendto(
                            fd,
                            bytes.baseAddress,
                            bytes.count,
                            0,
                            $0.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                            socklen_t(link.count)
                        )
                    }
                }
                if sent < 0 { return .failed(String(cString: strerror(errno))) }
                sentProbes += 1
                nextProbe = now + Double(timeoutSeconds) / Double(probes + 1)
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = Int32(max(1, min(nextProbe, end) - now) * 1000)
            guard poll(&descriptor, 1, sentProbes < probes ? min(wait, 200) : wait) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 128)
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count >= 28 else { continue }
            if let answer = reply(Array(buffer[0..<count]), for: target) { return .answered(answer) }
        }
    }

    /// The 28 bytes of an Ethernet/IPv4 ARP message.
    static func packet(operation: UInt16, senderMAC: [UInt8], senderIP: UInt32, targetIP: UInt32) -> [UInt8] {
        var bytes: [UInt8] = [0x00, 0x01, 0x08, 0x00, 6, 4, UInt8(operation >> 8), UInt8(operation & 0xFF)]
        bytes += senderMAC
        bytes += withUnsafeBytes(of: senderIP.bigEndian, Array.init)
        bytes += [UInt8](repeating: 0, count: 6)
        bytes += withUnsafeBytes(of: targetIP.bigEndian, Array.init)
        return bytes
    }

    /// The sender's MAC address when `bytes` is an ARP reply (or a request from a host claiming `target`).
    static func reply(_ bytes: [UInt8], for target: UInt32) -> String? {
        guard bytes.count >= 28, bytes[0] == 0, bytes[1] == 1, bytes[2] == 8, bytes[3] == 0 else { return nil }
        let operation = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        let sender = bytes[14..<18].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard sender == target, operation == 2 || operation == 1 else { return nil }
        return bytes[8..<14].map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    static func ownMAC(_ interface: String) -> [UInt8]? {
        guard let text = try? FileSystem.contents("/sys/class/net/\(interface)/address") else { return nil }
        let parts = String(decoding: text, as: UTF8.self).trimmingCharacters(in: " \n").split(separator: ":")
        let bytes = parts.compactMap { UInt8($0, radix: 16) }
        return bytes.count == 6 ? bytes : nil
    }
}
