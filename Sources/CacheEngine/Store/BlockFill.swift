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
        var waiters = Waiters<Void>()
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
            return state.waiters.removeAll()
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
            return state.waiters.removeAll()
        }
        waiters.forEach { $0.resume() }
    }

    func fail(_ failure: OriginFailure) {
        let waiters = state.withLock { state in
            if case .filling = state.phase { state.phase = .failed(failure) }
            state.chunks = []
            return state.waiters.removeAll()
        }
        waiters.forEach { $0.resume() }
    }

    /// Bytes from `offset` within the block, waiting until some arrive or the fill ends.
    ///
    /// A reader whose task is cancelled while it waits gets `.failed(.cancelled)`.
    package func next(from offset: Int) async -> Next {
        while true {
            enum Step {
                case result(Next)
                case wait(id: Int)
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
                                return .result(
                                    .bytes(
                                        chunk.getSlice(at: chunk.readerIndex + offset - position, length: end - offset)!
                                    )
                                )
                            }
                            position = end
                        }
                    }
                    if case .complete = state.phase { return .result(.end) }
                    return .wait(id: state.waiters.nextID())
                }
            }
            switch step {
            case .result(let next):
                return next
            case .wait where Task.isCancelled:
                return .failed(.cancelled)
            case .wait(let id):
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let waits = state.withLock { state -> Bool in
                            guard case .filling = state.phase, state.received <= offset else { return false }
                            return state.waiters.add(continuation, id: id)
                        }
                        if !waits { continuation.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.waiters.remove(id: id) }?.resume()
                }
            }
        }
    }

    /// Readers waiting now (tests).
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}

/// The first origin answer for an object not yet known, or the revalidation of a stale one: waiters share it
/// instead of asking the origin again.
package final class MetadataProbe: Sendable {
    package enum Outcome: Sendable {
        /// The object to serve; `stale` when it is past its freshness and the origin could not be reached.
        case object(ObjectMetadata, stale: Bool)
        /// The origin's answer is not the object's bytes to keep: relayed to the client as it is, never stored.
        case relay(RelayedAnswer)
        case failed(OriginFailure)
    }

    struct State {
        var outcome: Outcome?
        var waiters = Waiters<Outcome>()
    }

    private let state = Mutex(State())

    package init() {}

    func resolve(_ outcome: Outcome) {
        let waiters = state.withLock { state -> [Waiters<Outcome>.Continuation] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            return state.waiters.removeAll()
        }
        waiters.forEach { $0.resume(returning: outcome) }
    }

    /// The probe's outcome once it is known; `.failed(.cancelled)` for a waiter whose task is cancelled.
    package func outcome() async -> Outcome {
        enum Step {
            case ready(Outcome)
            case wait(id: Int)
        }
        let id: Int
        switch state.withLock({ state -> Step in
            if let outcome = state.outcome { return .ready(outcome) }
            return .wait(id: state.waiters.nextID())
        }) {
        case .ready(let outcome): return outcome
        case .wait(let waiter): id = waiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Outcome? in
                    if let outcome = state.outcome { return outcome }
                    return state.waiters.add(continuation, id: id) ? nil : .failed(.cancelled)
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { $0.waiters.remove(id: id) }?.resume(returning: .failed(.cancelled))
        }
    }

    /// Requests waiting now (tests).
    var waiterCount: Int { state.withLock { $0.waiters.count } }
}
