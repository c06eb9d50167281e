/// Tasks waiting for one event, each under an id, so that a cancelled one is taken out and resumed alone.
///
/// A value kept behind its owner's lock: the owner adds a waiter (unless its task is already cancelled), takes them
/// all when the event happens, and takes one out in the task's cancellation handler. Resuming is done outside the lock.
struct Waiters<Value: Sendable> {
    typealias Continuation = CheckedContinuation<Value, Never>

    private var waiting: [(id: Int, continuation: Continuation)] = []
    private var lastID = 0

    var count: Int { waiting.count }

    /// An id for a task about to wait.
    mutating func nextID() -> Int {
        lastID &+= 1
        return lastID
    }

    /// Adds the waiter unless its task is cancelled; `false` means: resume it now with the cancelled value.
    ///
    /// Called under the owner's lock, as `remove(id:)` is: a cancellation either finds the waiter here or is seen now.
    mutating func add(_ continuation: Continuation, id: Int) -> Bool {
        guard !Task.isCancelled else { return false }
        waiting.append((id, continuation))
        return true
    }

    /// The waiter of a cancelled task, to resume; `nil` when it was resumed already.
    mutating func remove(id: Int) -> Continuation? {
        guard let index = waiting.firstIndex(where: { $0.id == id }) else { return nil }
        return waiting.remove(at: index).continuation
    }

    /// Every waiter, to resume once the lock is released.
    mutating func removeAll() -> [Continuation] {
        guard !waiting.isEmpty else { return [] }
        defer { waiting.removeAll() }
        return waiting.map(\.continuation)
    }
}

extension OriginFailure {
    /// What a reader whose task was cancelled (or a fetch that never ran: the engine is stopping) gets.
    static let cancelled = OriginFailure.unreachable("cancelled")
}
