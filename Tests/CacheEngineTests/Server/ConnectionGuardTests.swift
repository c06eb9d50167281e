import NIOCore
import Testing

@testable import CacheEngine

/// The connection deadlines as a value: events with the time passed in, the timer and closes it asks for.
struct ConnectionGuardTests {
    typealias Deadlines = ConnectionGuard.Deadlines

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// An open connection with a 60 s idle timeout and a 10 s request deadline.
    static func opened() -> Deadlines {
        var deadlines = Deadlines(idleTimeout: .seconds(60), requestTimeout: .seconds(10))
        _ = deadlines.opened(now: start)
        return deadlines
    }

    static func at(_ seconds: Int64) -> NIODeadline { start + .seconds(seconds) }

    @Test func anIdleConnectionClosesAtTheIdleTimeout() {
        var deadlines = Deadlines(idleTimeout: .seconds(60), requestTimeout: .seconds(10))
        #expect(deadlines.opened(now: Self.start) == .schedule(Self.at(60)))
        #expect(deadlines.timerFired(now: Self.at(60)) == .close)
    }

    @Test func theFirstByteOfARequestStartsItsDeadline() {
        var deadlines = Self.opened()
        #expect(deadlines.bytesArrived(now: Self.at(30)) == .schedule(Self.at(40)))
        #expect(deadlines.timerFired(now: Self.at(40)) == .close)
    }

    /// A slowloris: a byte every second never moves the deadline of the request they belong to.
    @Test func moreBytesOfTheSameRequestDoNotMoveItsDeadline() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        for second in 2...10 {
            #expect(deadlines.bytesArrived(now: Self.at(Int64(second))) == .none)
        }
        #expect(deadlines.deadline == Self.at(11))
        #expect(deadlines.timerFired(now: Self.at(11)) == .close)
    }

    /// A head whose body never arrives (`Content-Length: 100` with 10 bytes, a chunk that never ends): the head
    /// does not stop the clock, only the request's last byte does.
    @Test func aHeadWithoutItsEndKeepsTheRequestDeadline() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        #expect(deadlines.requestHeadArrived(now: Self.at(2)) == .none)
        #expect(deadlines.bytesArrived(now: Self.at(5)) == .none)
        #expect(deadlines.deadline == Self.at(11))
        #expect(deadlines.timerFired(now: Self.at(11)) == .close)
    }

    @Test func aWholeRequestWaitsForItsResponseThenIdles() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestHeadArrived(now: Self.at(1))
        // The origin may take its own timeouts: no deadline while the engine answers.
        #expect(deadlines.requestEnded(now: Self.at(1)) == .cancel)
        #expect(deadlines.deadline == nil)
        #expect(deadlines.responseEnded(now: Self.at(20)) == .schedule(Self.at(80)))
    }

    /// A request refused from its head (a body announced) is answered before its last byte; until the connection
    /// closes, the request's deadline still holds.
    @Test func aResponseBeforeTheRequestsEndKeepsTheRequestDeadline() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestHeadArrived(now: Self.at(1))
        #expect(deadlines.responseEnded(now: Self.at(2)) == .none)
        #expect(deadlines.deadline == Self.at(11))
        // When the rest does arrive, the connection idles as after any response.
        #expect(deadlines.requestEnded(now: Self.at(3)) == .schedule(Self.at(63)))
    }

    @Test func aClientThatStopsReadingClosesAfterTheIdleTimeout() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestEnded(now: Self.at(1))
        #expect(deadlines.writabilityChanged(false, now: Self.at(5)) == .schedule(Self.at(65)))
        // Still stalled: the deadline counts from when it stalled first.
        #expect(deadlines.writabilityChanged(false, now: Self.at(6)) == .none)
        #expect(deadlines.writabilityChanged(true, now: Self.at(30)) == .cancel)
        #expect(deadlines.writabilityChanged(false, now: Self.at(40)) == .schedule(Self.at(100)))
        #expect(deadlines.timerFired(now: Self.at(100)) == .close)
    }

    /// Bytes of the next request that arrive while a response is sent (pipelining) start its deadline once the
    /// response ends and the engine reads them.
    @Test func aPipelinedRequestsDeadlineStartsWhenThePreviousResponseEnds() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestEnded(now: Self.at(1))
        #expect(deadlines.bytesArrived(now: Self.at(2)) == .none)
        #expect(deadlines.responseEnded(now: Self.at(30)) == .schedule(Self.at(40)))
        #expect(deadlines.timerFired(now: Self.at(40)) == .close)
    }

    /// A head delivered from the pipelining buffer, with no bytes seen for it, starts a request as well.
    @Test func aBufferedHeadStartsARequest() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestEnded(now: Self.at(1))
        _ = deadlines.responseEnded(now: Self.at(3))
        #expect(deadlines.requestHeadArrived(now: Self.at(3)) == .schedule(Self.at(13)))
    }

    @Test func aTimerForAnOlderDeadlineIsSetAgain() {
        var deadlines = Self.opened()
        _ = deadlines.bytesArrived(now: Self.at(1))
        _ = deadlines.requestEnded(now: Self.at(1))
        _ = deadlines.responseEnded(now: Self.at(5))
        #expect(deadlines.timerFired(now: Self.at(11)) == .schedule(Self.at(65)))
        #expect(deadlines.timerFired(now: Self.at(65)) == .close)
    }

    @Test func aClosedConnectionCancelsItsTimer() {
        var deadlines = Self.opened()
        #expect(deadlines.closed() == .cancel)
        #expect(deadlines.bytesArrived(now: Self.at(1)) == .none)
        #expect(deadlines.timerFired(now: Self.at(100)) == .none)
    }

    @Test func theRequestDeadlineIsTheIdleTimeoutUpToTenSeconds() {
        #expect(HTTPListener.Limits(maxConnections: 1, idleTimeout: .seconds(3)).requestTimeout == .seconds(3))
        #expect(HTTPListener.Limits(maxConnections: 1, idleTimeout: .seconds(60)).requestTimeout == .seconds(10))
    }
}
