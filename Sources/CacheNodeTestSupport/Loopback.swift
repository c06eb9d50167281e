import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket bound to 127.0.0.1 on `port`, or on a port the kernel picked (0), listening when asked; `nil` when the
/// kernel refused. Close it with `close(_:)`.
package func boundLoopbackSocket(listening: Bool = false, port: Int = 0) -> (fd: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard bound == 0, named == 0, !listening || listen(fd, 16) == 0 else {
        close(fd)
        return nil
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// The next port `freeLoopbackPort` tries: counting up from a random start below the kernel's ephemeral range
/// (32768-60999), so no two calls in a process get the same port and no outgoing connection takes it meanwhile.
private let nextPort = Mutex(Int.random(in: 20000..<30000))

/// A port on 127.0.0.1 that was free a moment ago.
///
/// A port the kernel picks is from the ephemeral range, which every outgoing connection draws from too: a test that
/// waits before it binds (an install's steps on a busy machine) found its port taken by some test's client.
package func freeLoopbackPort() -> Int {
    for _ in 0..<1000 {
        let port = nextPort.withLock { next in
            defer { next = next + 1 < 32768 ? next + 1 : 20000 }
            return next
        }
        if let (fd, _) = boundLoopbackSocket(port: port) {
            close(fd)
            return port
        }
    }
    guard let (fd, port) = boundLoopbackSocket() else { return 0 }
    close(fd)
    return port
}
