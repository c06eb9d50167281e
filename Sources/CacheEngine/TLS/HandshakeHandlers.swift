import NIOCore
import NIOSSL
import NIOTLS

/// Right after `NIOSSLServerHandler`: a client that has not completed its handshake within `timeout` of connecting
/// is cut (a TLS client that never sends a ClientHello holds a connection otherwise). Leaves the pipeline once the
/// handshake is done.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let failed: @Sendable (HandshakeFailure) -> Void
    private var timer: Scheduled<Void>?
    private var completed = false
    /// Set once a failure was counted: a handshake cut at its deadline is not counted again as failed.
    private var reported = false

    init(timeout: TimeAmount, failed: @escaping @Sendable (HandshakeFailure) -> Void) {
        self.timeout = timeout
        self.failed = failed
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            completed = true
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !completed, !reported, error is NIOSSLError || error is BoringSSLError {
            reported = true
            failed(.failed)
        }
        context.fireErrorCaught(error)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil, !completed else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            handler.reported = true
            handler.failed(.timeout)
            context.close(promise: nil)
        }
    }
}

/// The whole pipeline of a TLS connection while there is no certificate to serve: closed at once, before a byte.
final class RefusedHandshake: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let failed: @Sendable (HandshakeFailure) -> Void

    init(failed: @escaping @Sendable (HandshakeFailure) -> Void) {
        self.failed = failed
    }

    func channelActive(context: ChannelHandlerContext) {
        failed(.refused)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Why a TLS handshake did not complete, as the metric's `reason` label.
enum HandshakeFailure: String, CaseIterable, Sendable {
    /// No certificate to serve.
    case refused
    /// Not completed within `https.handshake_timeout_s`.
    case timeout
    /// The client and the engine did not agree (versions, ciphers, an untrusted certificate, not TLS at all).
    case failed
}
