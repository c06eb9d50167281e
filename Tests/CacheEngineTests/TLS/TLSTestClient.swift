import CacheNodeCore
import CacheNodeTestSupport
import NIOCore
import NIOPosix
import NIOSSL

@testable import CacheEngine

/// A TLS client for tests on NIO's own TLS: it trusts one CA file, checks the server's name, and keeps its
/// connection for as many requests as a test makes.
enum TLSTestClient {
    /// Runs `body` on a new connection to `127.0.0.1:port`, closed afterwards.
    static func withConnection<T: Sendable>(
        port: Int,
        ca: String,
        serverName: String = "localhost",
        _ body: (inout TLSTestConnection) async throws -> T
    ) async throws -> T {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(ca)
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: serverName)
                    )
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        // Only so that a broken engine cannot hang the test run: no test waits anywhere near this long.
        let guardTimer = channel.channel.eventLoop.scheduleTask(in: .seconds(120)) {
            channel.channel.close(promise: nil)
        }
        defer { guardTimer.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = TLSTestConnection(
                channel: channel.channel,
                inbound: inbound.makeAsyncIterator(),
                outbound: outbound
            )
            return try await body(&connection)
        }
    }

    /// Sends raw bytes and returns everything the server sends until it closes.
    static func raw(port: Int, ca: String, _ request: [UInt8]) async throws -> [UInt8] {
        try await withConnection(port: port, ca: ca) { connection in
            try await connection.send(request)
            return try await connection.readToClose()
        }
    }

    /// One request with `Connection: close`, as `TestHTTPClient.get` sends it.
    static func get(port: Int, ca: String, _ target: String, headers: [(String, String)] = []) async throws
        -> TestResponse
    {
        var request = "GET \(target) HTTP/1.1\r\nHost: localhost:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        return try TestHTTPClient.parse(try await raw(port: port, ca: ca, Array((request + "\r\n").utf8)))
    }
}

/// One TLS connection: requests written, responses read whole (by `Content-Length`), the server's certificate.
struct TLSTestConnection {
    let channel: any Channel
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending: [UInt8] = []

    init(
        channel: any Channel,
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.channel = channel
        self.inbound = inbound
        self.outbound = outbound
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// A kept-alive GET of `target`.
    mutating func get(_ target: String, headers: [(String, String)] = []) async throws -> TestResponse {
        var request = "GET \(target) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try await send(Array((request + "\r\n").utf8))
        return try await response()
    }

    /// The next whole response (a head and `Content-Length` body bytes).
    mutating func response() async throws -> TestResponse {
        while true {
            if let length = Self.wholeLength(pending) {
                let response = try TestHTTPClient.parse(Array(pending[..<length]))
                pending.removeFirst(length)
                return response
            }
            guard let chunk = try await inbound.next() else {
                throw TLSTestFailure(description: "the connection closed before a whole response")
            }
            pending += chunk.readableBytesView
        }
    }

    /// Every byte until the server closes (with or without its TLS close_notify).
    mutating func readToClose() async throws -> [UInt8] {
        do {
            while let chunk = try await inbound.next() { pending += chunk.readableBytesView }
        } catch let error as NIOSSLError where error == .uncleanShutdown {
        } catch let error as IOError where error.errnoCode == ECONNRESET {
        }
        defer { pending = [] }
        return pending
    }

    /// The SHA-256 fingerprint of the certificate the server presented.
    func peerFingerprint() async throws -> String {
        guard let certificate = try await channel.nioSSL_peerCertificate().get() else {
            throw TLSTestFailure(description: "the server presented no certificate")
        }
        return CertificateStatus.fingerprint(der: try certificate.toDERBytes())
    }

    /// The length of the first response in `bytes` once it is all there.
    private static func wholeLength(_ bytes: [UInt8]) -> Int? {
        guard let end = bytes.indices.dropLast(3).first(where: { bytes[$0..<($0 + 4)] == [13, 10, 13, 10] }) else {
            return nil
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return bytes.count >= end + 4 + length ? end + 4 + length : nil
    }
}

struct TLSTestFailure: Error, CustomStringConvertible {
    var description: String
}
