import CacheProtocol
import NIOCore
import NIOHTTP1

/// Writes one response to a channel with a small window of writes in flight (backpressure without stalls).
final class ResponseWriter: @unchecked Sendable {
    // Used from one task at a time: the connection's.
    private let channel: any Channel
    private var inFlight: [(EventLoopFuture<Void>, NIOFileHandle?)] = []
    private(set) var headSent = false
    private(set) var bodyBytes: Int64 = 0
    private let window = 4
    /// Set for `HEAD`: bodies are dropped, the head keeps its `Content-Length`.
    var suppressBody = false

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Queues the head; it leaves with the first body write (one syscall fewer per response).
    func head(_ head: HTTPResponseHead) {
        headSent = true
        inFlight.append((channel.write(HTTPServerResponsePart.head(head)), nil))
    }

    /// Sends what is queued (before waiting for a fill, so the client is not kept waiting for bytes it could have).
    func flush() {
        channel.flush()
    }

    func body(_ buffer: ByteBuffer) async throws {
        if suppressBody { return }
        bodyBytes += Int64(buffer.readableBytes)
        inFlight.append((channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))), nil))
        try await drain(to: window)
    }

    /// Sends `length` bytes of a stored block from `offset`; the handle is closed once written.
    func file(_ handle: NIOFileHandle, offset: Int, length: Int) async throws {
        bodyBytes += Int64(length)
        let region = FileRegion(fileHandle: handle, readerIndex: offset, endIndex: offset + length)
        inFlight.append((channel.write(HTTPServerResponsePart.body(.fileRegion(region))), handle))
        try await drain(to: window)
    }

    func end() async throws {
        inFlight.append((channel.writeAndFlush(HTTPServerResponsePart.end(nil)), nil))
        try await drain(to: 0)
    }

    /// Closes the connection: the only way to signal a failure after the head was sent.
    func abort() async {
        try? await channel.close()
        // Pending writes failed with the close; their descriptors can go now.
        for (future, handle) in inFlight {
            _ = try? await future.get()
            try? handle?.close()
        }
        inFlight = []
    }

    private func drain(to limit: Int) async throws {
        if inFlight.count > limit { channel.flush() }
        while inFlight.count > limit {
            let (future, handle) = inFlight.removeFirst()
            do {
                try await future.get()
            } catch {
                try? handle?.close()
                for (_, other) in inFlight { try? other?.close() }
                inFlight = []
                throw error
            }
            try? handle?.close()
        }
    }
}
