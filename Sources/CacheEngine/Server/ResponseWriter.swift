import CacheProtocol
import NIOCore
import NIOHTTP1

/// The start of one response: it can send the head once, by construction.
///
/// `head(_:)` consumes the writer and returns the `ResponseBody` that sends the body, so a second head, or a body
/// before the head, does not compile. Used by the one task that answers the request.
struct ResponseWriter: ~Copyable {
    private let channel: any Channel
    /// Set for `HEAD`: bodies are dropped, the head keeps its `Content-Length`.
    var suppressBody = false

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Queues the head, with `Date` when it has none (every answer carries one, RFC 9110 6.6.1); it leaves with the
    /// first body write (one syscall fewer per response).
    consuming func head(_ head: HTTPResponseHead) -> ResponseBody {
        var head = head
        if !head.headers.contains(name: "date") { head.headers.add(name: "Date", value: HTTPDate.now()) }
        let written = channel.write(HTTPServerResponsePart.head(head))
        return ResponseBody(channel: channel, head: written, suppressBody: suppressBody)
    }
}

/// The body of one response, with a small window of writes in flight (backpressure without stalls). Ends once:
/// `end()` or `abort()` consume it.
struct ResponseBody: ~Copyable {
    private let channel: any Channel
    private var inFlight: [(EventLoopFuture<Void>, NIOFileHandle?)]
    private let suppressBody: Bool
    /// Body bytes written so far (none for `HEAD`).
    private(set) var bytes: Int64 = 0
    private static let window = 4

    fileprivate init(channel: any Channel, head: EventLoopFuture<Void>, suppressBody: Bool) {
        self.channel = channel
        self.inFlight = [(head, nil)]
        self.suppressBody = suppressBody
    }

    /// Sends what is queued (before waiting for a fill, so the client is not kept waiting for bytes it could have).
    func flush() {
        channel.flush()
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        if suppressBody { return }
        bytes += Int64(buffer.readableBytes)
        inFlight.append((channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))), nil))
        try await drain(to: Self.window)
    }

    /// Sends `length` bytes of a stored block from `offset`; the handle is closed once written.
    mutating func write(file handle: NIOFileHandle, offset: Int, length: Int) async throws {
        if suppressBody {
            try? handle.close()
            return
        }
        bytes += Int64(length)
        let region = FileRegion(fileHandle: handle, readerIndex: offset, endIndex: offset + length)
        inFlight.append((channel.write(HTTPServerResponsePart.body(.fileRegion(region))), handle))
        try await drain(to: Self.window)
    }

    /// Ends the response; returns the body bytes written, or throws when the client went away.
    consuming func end() async throws -> Int64 {
        inFlight.append((channel.writeAndFlush(HTTPServerResponsePart.end(nil)), nil))
        try await drain(to: 0)
        return bytes
    }

    /// Closes the connection: the only way to signal a failure after the head was sent. Returns the bytes written.
    consuming func abort() async -> Int64 {
        try? await channel.close()
        // Pending writes failed with the close; their descriptors can go now.
        for (future, handle) in inFlight {
            _ = try? await future.get()
            try? handle?.close()
        }
        return bytes
    }

    private mutating func drain(to limit: Int) async throws {
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
