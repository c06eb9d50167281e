import CacheProtocol
import NIOCore
import NIOHTTP1

/// Closes connections that idle between requests, take too long to send a request, or stop reading a response.
///
/// `ConnectionGuard.Deadlines` decides, with the time passed in; the handler only schedules one timer and closes.
/// `ConnectionGate`, first in the pipeline, tells it when the first byte of a request arrives.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var deadlines: Deadlines
    private var timer: Scheduled<Void>?

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
        deadlines = Deadlines(idleTimeout: idleTimeout, requestTimeout: requestTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { perform(deadlines.opened(now: context.eventLoop.now), context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(deadlines.opened(now: context.eventLoop.now), context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(deadlines.closed(), context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionGate.BytesArrived {
            perform(deadlines.bytesArrived(now: context.eventLoop.now), context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: perform(deadlines.requestHeadArrived(now: context.eventLoop.now), context)
        case .body: break
        case .end: perform(deadlines.requestEnded(now: context.eventLoop.now), context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Decided before the write goes on: ending a response lets the pipelining handler deliver the next request.
        if case .end = unwrapOutboundIn(data) {
            perform(deadlines.responseEnded(now: context.eventLoop.now), context)
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(deadlines.writabilityChanged(context.channel.isWritable, now: context.eventLoop.now), context)
        context.fireChannelWritabilityChanged()
    }

    private func perform(_ action: Deadlines.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .schedule(let deadline):
            timer?.cancel()
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(deadline: deadline) {
                let (handler, context) = loopBound.value
                handler.timer = nil
                handler.perform(handler.deadlines.timerFired(now: context.eventLoop.now), context)
            }
        case .cancel:
            timer?.cancel()
            timer = nil
        case .close:
            timer?.cancel()
            timer = nil
            context.close(promise: nil)
        }
    }
}

extension ConnectionGuard {
    /// The connection's one deadline, as a value: events in (with the time), the timer to set out.
    ///
    /// - Idle (no request, no response): `idleTimeout` after the connection opened or the last response ended.
    /// - Receiving a request: `requestTimeout` after its first byte, until its last, whatever is answered meanwhile.
    /// - Answering (the request is whole): none, unless the client stops reading; then `idleTimeout` after the
    ///   channel stopped being writable. Bytes of a pipelined request start its deadline when the response ends.
    struct Deadlines {
        enum Action: Equatable {
            case none
            /// Set the one timer for `deadline` (replacing any other).
            case schedule(NIODeadline)
            case cancel
            /// A deadline passed: close the connection.
            case close
        }

        enum Phase: Equatable {
            case idle(since: NIODeadline)
            /// A request is arriving; `answered` once a response to it ended before its last byte (a refusal).
            case receiving(deadline: NIODeadline, answered: Bool)
            /// The request is whole and its response is not over; `stalledSince` while the client does not read.
            case answering(stalledSince: NIODeadline?, nextRequestStarted: Bool)
            case closed
        }

        let idleTimeout: TimeAmount
        let requestTimeout: TimeAmount
        private(set) var phase: Phase = .closed
        private var scheduled: NIODeadline?

        init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
        }

        /// When the connection closes unless something happens first; `nil` when it may wait.
        var deadline: NIODeadline? {
            switch phase {
            case .idle(let since): since + idleTimeout
            case .receiving(let deadline, _): deadline
            case .answering(let stalledSince, _): stalledSince.map { $0 + idleTimeout }
            case .closed: nil
            }
        }

        mutating func opened(now: NIODeadline) -> Action {
            guard case .closed = phase else { return .none }
            return move(to: .idle(since: now))
        }

        /// Bytes arrived from the client (before they are parsed).
        mutating func bytesArrived(now: NIODeadline) -> Action {
            switch phase {
            case .idle:
                return move(to: .receiving(deadline: now + requestTimeout, answered: false))
            case .answering(let stalledSince, _):
                return move(to: .answering(stalledSince: stalledSince, nextRequestStarted: true))
            case .receiving, .closed:
                return .none
            }
        }

        /// A request head was delivered (bytes of it may have arrived with the previous request).
        mutating func requestHeadArrived(now: NIODeadline) -> Action {
            guard case .idle = phase else { return .none }
            return move(to: .receiving(deadline: now + requestTimeout, answered: false))
        }

        mutating func requestEnded(now: NIODeadline) -> Action {
            guard case .receiving(_, let answered) = phase else { return .none }
            return move(to: answered ? .idle(since: now) : .answering(stalledSince: nil, nextRequestStarted: false))
        }

        mutating func responseEnded(now: NIODeadline) -> Action {
            switch phase {
            case .answering(_, let nextRequestStarted):
                return move(
                    to: nextRequestStarted
                        ? .receiving(deadline: now + requestTimeout, answered: false) : .idle(since: now)
                )
            case .receiving(let deadline, _):
                // Answered before its last byte (a refusal): the request's own deadline still holds.
                return move(to: .receiving(deadline: deadline, answered: true))
            case .idle, .closed:
                return .none
            }
        }

        mutating func writabilityChanged(_ writable: Bool, now: NIODeadline) -> Action {
            guard case .answering(let stalledSince, let next) = phase else { return .none }
            return move(to: .answering(stalledSince: writable ? nil : stalledSince ?? now, nextRequestStarted: next))
        }

        /// The timer went off: close when the deadline has passed (a timer for an older deadline is set again).
        mutating func timerFired(now: NIODeadline) -> Action {
            scheduled = nil
            guard let deadline else { return .none }
            guard deadline <= now else { return reschedule() }
            phase = .closed
            return .close
        }

        mutating func closed() -> Action {
            phase = .closed
            return reschedule()
        }

        private mutating func move(to next: Phase) -> Action {
            phase = next
            return reschedule()
        }

        /// The timer for the current deadline, when it differs from the one set.
        private mutating func reschedule() -> Action {
            let wanted = deadline
            guard wanted != scheduled else { return .none }
            scheduled = wanted
            return wanted.map { .schedule($0) } ?? .cancel
        }
    }
}
