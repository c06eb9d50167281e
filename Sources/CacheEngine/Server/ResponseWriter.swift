import CacheProtocol
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The start of one response: it can send the head once, by construction.
///
/// `head(_:)` consumes the writer and returns the `ResponseBody` that sends the body, so a second head, or a body
/// before the head, does not compile. Used by the one task that answers the request.
struct ResponseWriter: ~Copyable {
    private let channel: any Channel
    /// Set for `HEAD`: bodies are dropped, the head keeps its `Content-Length`.
    var suppressBody = false
    /// Set when stored blocks are read into buffers on this pool rather than sent by `sendfile` (through TLS, which
    /// must encrypt them).
    private let copier: NIOThreadPool?

    init(channel: any Channel, copier: NIOThreadPool? = nil) {
        self.channel = channel
        self.copier = copier
    }

    /// Queues the head, with `Date` when it has none (every answer carries one, RFC 9110 6.6.1); it leaves with the
    /// first body write (one syscall fewer per response).
    consuming func head(_ head: HTTPResponseHead) -> ResponseBody {
        var head = head
        if !head.headers.contains(name: "date") { head.headers.add(name: "Date", value: HTTPDate.now()) }
        let written = channel.write(HTTPServerResponsePart.head(head))
        return ResponseBody(channel: channel, head: written, suppressBody: suppressBody, copier: copier)
    }
}

/// The body of one response, with a small window of writes in flight (backpressure without stalls). Ends once:
/// `end()` or `abort()` consume it.
struct ResponseBody: ~Copyable {
    private let channel: any Channel
    private var inFlight: [(EventLoopFuture<Void>, NIOFileHandle?)]
    private let suppressBody: Bool
    private let copier: NIOThreadPool?
    /// Body bytes written so far (none for `HEAD`).
    private(set) var bytes: Int64 = 0
    private static let window = 4
    /// The most bytes of a stored block one buffer holds when blocks are copied.
    static let copyPiece = 256 * 1024

    fileprivate init(channel: any Channel, head: EventLoopFuture<Void>, suppressBody: Bool, copier: NIOThreadPool?) {
        self.channel = channel
        self.inFlight = [(head, nil)]
        self.suppressBody = suppressBody
        self.copier = copier
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
        if let copier { return try await copy(file: handle, offset: offset, length: length, on: copier) }
        bytes += Int64(length)
        let region = FileRegion(fileHandle: handle, readerIndex: offset, endIndex: offset + length)
        inFlight.append((channel.write(HTTPServerResponsePart.body(.fileRegion(region))), handle))
        try await drain(to: Self.window)
    }

    /// Sends a stored block's bytes as buffers read from its file (`pread` on the engine's disk pool: a read that
    /// misses the page cache waits for the drive there, not on one of the few threads every request's task runs on).
    private mutating func copy(file handle: NIOFileHandle, offset: Int, length: Int, on pool: NIOThreadPool)
        async throws
    {
        defer { try? handle.close() }
        var position = offset
        let allocator = channel.allocator
        while position < offset + length {
            let (at, count) = (position, min(Self.copyPiece, offset + length - position))
            try await write(
                try await pool.runIfActive {
                    try Self.read(handle, at: at, count: count, allocator: allocator)
                }
            )
            position += count
        }
    }

    /// `count` bytes of the file from `offset`; a file shorter than that (cut under the reader) throws.
    private static func read(
        _ handle: NIOFileHandle,
        at offset: Int,
        count: Int,
        allocator: ByteBufferAllocator
    ) throws -> ByteBuffer {
        var buffer = allocator.buffer(capacity: count)
        while buffer.readableBytes < count {
            let position = offset + buffer.readableBytes
            let wanted = count - buffer.readableBytes
            var failure: CInt = 0
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { target in
                let read = try handle.withUnsafeFileDescriptor {
                    pread($0, target.baseAddress, wanted, off_t(position))
                }
                if read < 0 { failure = errno }
                return max(0, read)
            }
            if failure == EINTR { continue }
            guard read > 0 else { throw IOError(errnoCode: failure != 0 ? failure : EIO, reason: "pread") }
        }
        return buffer
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
