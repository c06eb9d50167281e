import Logging
import NIOCore
import NIOEmbedded
import NIOExtras
import NIOPosix
import NIOHTTP1
import Synchronization
import Testing

@testable import CacheEngine

/// The connection's handlers on an `EmbeddedChannel` with virtual time: the pipeline the listener builds, without a
/// socket. Requests go to a list instead of the listener's task group.
struct PipelineTests {
    final class Submitted: Sendable {
        let jobs = Mutex<[RequestJob]>([])
        let accepting = Mutex(true)

        var heads: [String] { jobs.withLock { $0.map(\.head.uri) } }
    }

    static func pipeline(
        idle: TimeAmount = .seconds(60),
        request: TimeAmount = .seconds(10),
        limit: Int = 10,
        connections: ConnectionCount? = nil
    ) throws -> (EmbeddedChannel, Submitted) {
        let channel = EmbeddedChannel()
        let submitted = Submitted()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ConnectionGate())
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
        try sync.addHandler(ConnectionGuard(idleTimeout: idle, requestTimeout: request))
        try sync.addHandler(
            RequestDispatcher(
                target: DispatchTarget(
                    connections: connections ?? ConnectionCount(limit: limit, counters: nil),
                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
                ) { job in
                    guard submitted.accepting.withLock({ $0 }) else { return false }
                    submitted.jobs.withLock { $0.append(job) }
                    return true
                }
            )
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        return (channel, submitted)
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Answers the first request the way the responder does: a head, a body, the end.
    static func respond(_ channel: EmbeddedChannel, body: String = "ok") throws {
        let headers = HTTPHeaders([("Content-Length", "\(body.utf8.count)")])
        try channel.writeOutbound(
            HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))
        )
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
    }

    /// Everything the channel wrote, as text.
    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text
    }

    @Test func pipelinedRequestsAreHandedOverOneAtATime() throws {
        let (channel, submitted) = try Self.pipeline()
        try Self.send(channel, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        // The second waits until the first response has ended.
        #expect(submitted.heads == ["/a"])
        try Self.respond(channel)
        #expect(submitted.heads == ["/a", "/b"])
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 200 OK"))
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func aHeadThatAnnouncesABodyIsAnsweredAtOnceAndNothingAfterItIsRead() throws {
        let (channel, submitted) = try Self.pipeline()
        try Self.send(
            channel,
            "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        let jobs = submitted.jobs.withLock { $0 }
        #expect(jobs.map(\.head.uri) == ["/a"])
        #expect(jobs.first?.closeAfter == true)
        try Self.respond(channel)
        // Whatever followed the head is never dispatched.
        #expect(submitted.heads == ["/a"])
        _ = try? channel.finish()
    }

    @Test func aMalformedRequestGets400AndTheConnectionCloses() throws {
        let (channel, submitted) = try Self.pipeline()
        try? Self.send(channel, "GET /a HTTP/1.1\r\nHost x\r\n\r\n")
        #expect(submitted.heads.isEmpty)
        #expect(try Self.written(channel).hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(!channel.isActive)
    }

    @Test func anIdleConnectionClosesAtTheIdleTimeout() throws {
        let (channel, _) = try Self.pipeline(idle: .seconds(60))
        channel.embeddedEventLoop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    /// A slowloris: a byte a second never completes its request; it is cut at the request deadline, not the idle one.
    @Test func aRequestThatArrivesTooSlowlyIsCutAtItsDeadline() throws {
        let (channel, submitted) = try Self.pipeline(idle: .seconds(60), request: .seconds(10))
        for byte in "GET /a HTTP/1.1\r\nHo" {
            try Self.send(channel, String(byte))
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            if !channel.isActive { break }
        }
        #expect(!channel.isActive)
        #expect(submitted.heads.isEmpty)
    }

    /// A client that stops reading a response is closed at the idle timeout once the channel is not writable.
    @Test func aClientThatStopsReadingIsClosed() throws {
        let (channel, submitted) = try Self.pipeline(idle: .seconds(30))
        try Self.send(channel, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(submitted.heads == ["/a"])
        // The response is under way; the client's window is full.
        try channel.writeOutbound(
            HTTPServerResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "100"])
            )
        )
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func aConnectionOverTheCapIsClosedBeforeAnythingIsRead() throws {
        let count = ConnectionCount(limit: 1, counters: nil)
        let (first, _) = try Self.pipeline(connections: count)
        let (second, submitted) = try Self.pipeline(connections: count)
        #expect(first.isActive && !second.isActive)
        #expect(count.count == 1)
        #expect(submitted.heads.isEmpty)
        _ = try? first.finish()
        #expect(count.count == 0)
    }

    /// After the listener's grace period it takes no request: the connection closes instead of waiting.
    @Test func aRequestTheListenerNoLongerTakesClosesTheConnection() throws {
        let (channel, submitted) = try Self.pipeline()
        submitted.accepting.withLock { $0 = false }
        try Self.send(channel, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(!channel.isActive)
    }

    /// Quiescing (the listener's shutdown): an idle connection closes at once; a busy one after its response.
    @Test func quiescingClosesIdleConnectionsAtOnceAndBusyOnesAfterTheirResponse() throws {
        let (idle, _) = try Self.pipeline()
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isActive)

        let (busy, submitted) = try Self.pipeline()
        try Self.send(busy, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(submitted.heads == ["/a"])
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.isActive)
        try Self.respond(busy)
        #expect(try Self.written(busy).hasSuffix("ok"))
        // Open until the listener says the answer has left (its writes' promises completed), then closed.
        #expect(busy.isActive)
        busy.triggerUserOutboundEvent(ConnectionGate.Request.ended, promise: nil)
        #expect(!busy.isActive)
    }
}

/// The listener's lifecycle as a value: the order of binding, waiting and stopping.
struct ListenerLifecycleTests {
    @Test func aStopAskedForBeforeBindingTakesEffectOnceBound() {
        var lifecycle = ListenerLifecycle()
        #expect(lifecycle.stop() == nil)
        let (waiters, stopNow) = lifecycle.bound(port: 8080, quiescing: ServerQuiescingHelperStub.helper)
        #expect(waiters.isEmpty && stopNow)
        // Stopping twice does nothing more.
        #expect(lifecycle.stop() == nil)
    }

    @Test func aBoundListenerStopsOnce() {
        var lifecycle = ListenerLifecycle()
        _ = lifecycle.bound(port: 8080, quiescing: ServerQuiescingHelperStub.helper)
        #expect(lifecycle.stop() != nil)
        #expect(lifecycle.stop() == nil)
    }

    @Test func portWaitersAreAnsweredWhenBindingEndsAndCancelledOnesAreForgotten() async throws {
        final class Shared: Sendable { let value = Mutex(ListenerLifecycle()) }
        let shared = Shared()
        let first = shared.value.withLock { $0.newWaiterID() }
        let second = shared.value.withLock { $0.newWaiterID() }
        async let port: Int = withCheckedThrowingContinuation { continuation in
            let now = shared.value.withLock { $0.waitForPort(id: first, continuation) }
            if let now { continuation.resume(with: now) }
        }
        async let cancelled: Int = withCheckedThrowingContinuation { continuation in
            let now = shared.value.withLock { $0.waitForPort(id: second, continuation) }
            if let now { continuation.resume(with: now) }
        }
        // Let both register, then cancel the second as `boundPort()` does on cancellation.
        try await Task.sleep(for: .milliseconds(50))
        shared.value.withLock { $0.cancelWaiter(id: second) }?.resume(throwing: CancellationError())
        let (waiters, _) = shared.value.withLock { $0.bound(port: 8080, quiescing: ServerQuiescingHelperStub.helper) }
        #expect(waiters.count == 1)
        for (waiter, result) in waiters { waiter.resume(with: result) }
        #expect(try await port == 8080)
        var cancelledError: (any Error)?
        do { _ = try await cancelled } catch { cancelledError = error }
        #expect(cancelledError is CancellationError)
        // Later askers get the port at once.
        #expect(try shared.value.withLock { $0.outcome }?.get() == 8080)
    }

    @Test func aFailedBindAnswersEveryWaiterWithTheError() async {
        var lifecycle = ListenerLifecycle()
        let waiters = lifecycle.bindFailed(.bindFailed(address: "127.0.0.1:80", reason: "EADDRINUSE"))
        #expect(waiters.isEmpty)
        #expect(throws: EngineError.self) { try lifecycle.outcome?.get() }
        #expect(lifecycle.stop() == nil)
    }
}

/// A quiescing helper for the value tests, which never start it.
enum ServerQuiescingHelperStub {
    static let helper = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
}
