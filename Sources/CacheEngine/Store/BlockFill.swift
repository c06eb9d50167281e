import CacheProtocol
import NIOCore
import Synchronization

/// One block being fetched from the origin: readers replay what has arrived and wait for the rest, without polling.
package final class BlockFill: Sendable {
    /// What a reader gets next.
    package enum Next: Sendable {
        case bytes(ByteBuffer)
        /// The block is whole and stored: read the rest from disk.
        case stored
        /// The block is whole and only in memory (not stored): nothing after the requested offset.
        case end
        case failed(OriginFailure)
    }

    enum Phase {
        case filling
        case complete(stored: Bool)
        case failed(OriginFailure)
    }

    struct State {
        var chunks: [ByteBuffer] = []
        var received = 0
        var phase = Phase.filling
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    package let index: Int
    private let state = Mutex(State())

    package init(index: Int) {
        self.index = index
    }

    /// Adds bytes in order and wakes the readers.
    func append(_ buffer: ByteBuffer) {
        let waiters = state.withLock { state in
            state.chunks.append(buffer)
            state.received += buffer.readableBytes
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// The bytes received so far, for storing.
    var chunks: [ByteBuffer] { state.withLock { $0.chunks } }

    /// The fill ended whole; when stored, memory is released and readers continue from disk.
    func complete(stored: Bool) {
        let waiters = state.withLock { state in
            state.phase = .complete(stored: stored)
            if stored { state.chunks = [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func fail(_ failure: OriginFailure) {
        let waiters = state.withLock { state in
            if case .filling = state.phase { state.phase = .failed(failure) }
            state.chunks = []
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Bytes from `offset` within the block, waiting until some arrive or the fill ends.
    package func next(from offset: Int) async -> Next {
        while true {
            enum Step {
                case result(Next)
                case wait
            }
            let step: Step = state.withLock { state in
                switch state.phase {
                case .failed(let failure): return .result(.failed(failure))
                case .complete(stored: true): return .result(.stored)
                case .filling, .complete(stored: false):
                    if offset < state.received {
                        var position = 0
                        for chunk in state.chunks {
                            let end = position + chunk.readableBytes
                            if offset < end {
                                return .result(.bytes(chunk.getSlice(at: chunk.readerIndex + offset - position, length: end - offset)!))
                            }
                            position = end
                        }
                    }
                    if case .complete = state.phase { return .result(.end) }
                    return .wait
                }
            }
            if case .result(let next) = step { return next }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if case .filling = state.phase, state.received <= offset {
                        state.waiters.append(continuation)
                        return false
                    }
                    return true
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}

/// The first origin answer for an object not yet known: waiters share it instead of asking the origin again.
package final class MetadataProbe: Sendable {
    package enum Outcome: Sendable {
        case object(ObjectMetadata)
        /// The origin's answer is not the object's bytes to keep: relayed to the client, never stored.
        case uncacheable(OriginAnswer.RelayReason)
        case failed(OriginFailure)
    }

    struct State {
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome, Never>] = []
    }

    private let state = Mutex(State())

    package init() {}

    func resolve(_ outcome: Outcome) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome, Never>] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume(returning: outcome) }
    }

    package func outcome() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Outcome? in
                if let outcome = state.outcome { return outcome }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
