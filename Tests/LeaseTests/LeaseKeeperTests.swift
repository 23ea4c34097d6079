import XCTest
import Foundation
import Synchronization
@testable import Lease

/// The lease keeper on a hand-driven clock and a scripted lease table: it renews on time, and says a lease is lost
/// — before it can have expired — when the table says so, when renewals fail, and when a renewal hangs.
final class LeaseKeeperTests: XCTestCase {
    let ttl = Duration.seconds(10), every = Duration.seconds(3), margin = Duration.seconds(2)

    func keeper(_ table: ScriptedTable, _ clock: ManualClock) -> LeaseKeeper<ManualClock> {
        LeaseKeeper(table: table, partition: "p1", holder: "engine-a", ttl: ttl, renewEvery: every, margin: margin, clock: clock)
    }

    func testRenewsEveryPeriodAndMovesItsOwnBoundFromEachRequest() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        guard case .acquired = try await k.acquire() else { return XCTFail("not acquired") }
        let acquiredUntil = await k.actUntil
        XCTAssertEqual(acquiredUntil, ManualClock.Instant(offset: ttl - margin))
        let keeping = Task { await k.keep() }
        for round in 1...4 {
            await clock.waitForSleepers(1)
            clock.advance(by: every)
            await table.waitForRenewals(round)
            await eventually { await k.actUntil == ManualClock.Instant(offset: self.every * round + self.ttl - self.margin) }
        }
        await clock.waitForSleepers(1)
        let until = await k.actUntil
        XCTAssertEqual(until, ManualClock.Instant(offset: every * 4 + ttl - margin), "bound = last request's send time + ttl - margin")
        keeping.cancel()
        let loss = await keeping.value
        XCTAssertNil(loss, "cancelled: the lease is still held")
        let held = await k.lease
        XCTAssertEqual(held?.token, 1)
    }

    func testTheTablesLostAnswerEndsTheLeaseAtOnce() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        _ = try await k.acquire()
        await table.script([.lost])
        let keeping = Task { await k.keep() }
        await clock.waitForSleepers(1)
        clock.advance(by: every)
        let loss = await keeping.value
        guard case .taken(.lost(let partition, _, let token, _))? = loss else { return XCTFail("got \(String(describing: loss))") }
        XCTAssertEqual(partition, "p1")
        XCTAssertEqual(token, 1)
        let held = await k.lease
        XCTAssertNil(held)
    }

    func testFailedRenewalsAreRetriedAndALaterSuccessKeepsTheLease() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        _ = try await k.acquire()
        await table.script([.trouble, .trouble, .ok])
        let keeping = Task { await k.keep() }
        await clock.waitForSleepers(1)
        clock.advance(by: every)          // t = 3 s: trouble
        await table.waitForRenewals(1)
        await eventually { await k.failedRenewals == 1 }
        await clock.waitForSleepers(1, exactly: true)
        clock.advance(by: every / 4)      // retried a quarter period later: trouble again
        await table.waitForRenewals(2)
        await eventually { await k.failedRenewals == 2 }
        await clock.waitForSleepers(1, exactly: true)
        clock.advance(by: every / 4)      // and again: renewed
        await table.waitForRenewals(3)
        await eventually { await k.failedRenewals == 0 }
        let (failedAfter, until) = (await k.failedRenewals, await k.actUntil)
        XCTAssertEqual(failedAfter, 0)
        XCTAssertEqual(until, ManualClock.Instant(offset: every + every / 2 + ttl - margin))
        keeping.cancel()
        _ = await keeping.value
    }

    func testRenewalsFailingUntilTheBoundEndTheLeaseBeforeItCanExpire() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        _ = try await k.acquire()
        await table.script(Array(repeating: .trouble, count: 100))
        let keeping = Task { await k.keep() }
        var ended: LeaseLoss?
        for _ in 0..<100 where ended == nil {
            // Either the keeper sleeps (on its next try, or on a renewal's deadline) or it has given the lease up.
            await eventually {
                if clock.sleepers >= 1 { return true }
                return await k.lease == nil
            }
            if await k.lease == nil {
                ended = await keeping.value
                break
            }
            if clock.now >= ManualClock.Instant(offset: ttl) { return XCTFail("still holding at the lease's expiry") }
            clock.advance(by: .milliseconds(250))
        }
        guard case .unrenewed(let partition, let token, let trouble)? = ended else { return XCTFail("got \(String(describing: ended))") }
        XCTAssertEqual(partition, "p1")
        XCTAssertEqual(token, 1)
        XCTAssertTrue(trouble?.contains("cannot be reached") == true, trouble ?? "")
        XCTAssertLessThanOrEqual(clock.now, ManualClock.Instant(offset: ttl - margin), "said before the margin")
    }

    func testARenewalThatHangsIsGivenUpAtTheBound() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        _ = try await k.acquire()
        await table.script([.hang])
        let keeping = Task { await k.keep() }
        await clock.waitForSleepers(1)
        clock.advance(by: every)                            // the renewal is sent and never answers
        await table.waitForRenewals(1)
        await clock.waitForSleepers(1)                      // the deadline's timer
        clock.advance(by: ttl - margin - every)             // t = ttl - margin
        let loss = await keeping.value
        guard case .unrenewed(_, _, let trouble)? = loss else { return XCTFail("got \(String(describing: loss))") }
        XCTAssertEqual(trouble, "no answer from the lease table")
        await table.endHangs()
    }

    func testReleaseGivesTheLeaseBackAndForgetsIt() async throws {
        let clock = ManualClock(), table = ScriptedTable()
        let k = keeper(table, clock)
        _ = try await k.acquire()
        try await k.release()
        let (held, released) = (await k.lease, await table.released)
        XCTAssertNil(held)
        XCTAssertEqual(released, [1])
        let loss = await k.keep()
        XCTAssertNil(loss, "nothing held, nothing kept")
    }

    func testTimingsAreClampedSoTheLeaseCannotLapseBetweenRenewals() {
        let k = LeaseKeeper(table: ScriptedTable(), partition: "p", holder: "h", ttl: .seconds(10), renewEvery: .seconds(30),
                            margin: .seconds(20), clock: ManualClock())
        XCTAssertEqual(k.margin, .seconds(5))
        XCTAssertEqual(k.renewEvery, .milliseconds(2500))
    }
}

/// Yields (no clock time passes) until `condition` holds.
/// Gives up, failing the test, after a number of yields no correct keeper needs (a hang fails instead of spinning).
func eventually(_ condition: () async -> Bool, file: StaticString = #filePath, line: UInt = #line) async {
    for _ in 0..<1_000_000 {
        if await condition() { return }
        await Task.yield()
    }
    XCTFail("the condition never held", file: file, line: line)
}

/// A lease table that answers renewals from a script (then `.ok`), counting them.
actor ScriptedTable: LeaseTable {
    enum Answer { case ok, lost, trouble, hang }
    private var answers: [Answer] = []
    private var renewals = 0
    private var token: Int64 = 0
    private(set) var released: [Int64] = []
    private var hung: [CheckedContinuation<Void, Never>] = []
    private var renewalWaiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func script(_ a: [Answer]) { answers = a }

    func acquire(_ partition: String, holder: String, ttl: Duration) async throws(LeaseError) -> Acquisition {
        token += 1
        return .acquired(Lease(partition: partition, holder: holder, token: token, expiresAt: Date(), validUntil: .now))
    }

    func renew(_ lease: Lease, ttl: Duration) async throws(LeaseError) -> Lease {
        renewals += 1
        let ready = renewalWaiters.filter { $0.0 <= renewals }
        renewalWaiters.removeAll { $0.0 <= renewals }
        for (_, c) in ready { c.resume() }
        let answer = answers.isEmpty ? .ok : answers.removeFirst()
        switch answer {
        case .ok: return lease
        case .lost: throw .lost(partition: lease.partition, holder: lease.holder, token: lease.token, now: nil)
        case .trouble: throw .unreachable(server: "postgres://test@127.0.0.1:1/x", why: "connection refused")
        case .hang:
            await withCheckedContinuation { hung.append($0) }
            throw .unreachable(server: "postgres://test@127.0.0.1:1/x", why: "hung")
        }
    }

    func release(_ lease: Lease) async throws(LeaseError) { released.append(lease.token) }

    func waitForRenewals(_ n: Int) async {
        if renewals >= n { return }
        await withCheckedContinuation { renewalWaiters.append((n, $0)) }
    }

    func endHangs() { for c in hung { c.resume() }; hung = [] }
}

/// A clock that moves only when a test advances it.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by d: Duration) -> Instant { Instant(offset: offset + d) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    private struct Sleeper { let id: Int; let deadline: Instant; let c: CheckedContinuation<Void, any Error> }
    private struct State { var now = Instant(offset: .zero); var sleepers: [Sleeper] = []; var nextID = 0 }
    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    var sleepers: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { s in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                // Cancelled before this point: the handler below found nothing to remove, so do not sleep at all.
                let (due, cancelled): (Bool, Bool) = state.withLock { s in
                    if Task.isCancelled { return (false, true) }
                    if deadline <= s.now { return (true, false) }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, c: c))
                    return (false, false)
                }
                if cancelled { c.resume(throwing: CancellationError()) } else if due { c.resume() }
            }
        } onCancel: {
            let s = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            s?.c.resume(throwing: CancellationError())
        }
    }

    func advance(by d: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: d)
            let due = s.sleepers.filter { $0.deadline <= s.now }
            s.sleepers.removeAll { $0.deadline <= s.now }
            return due
        }
        for s in due { s.c.resume() }
    }

    /// Waits (yielding, no time passes) until at least (or exactly) `n` tasks sleep on this clock.
    func waitForSleepers(_ n: Int, exactly: Bool = false, file: StaticString = #filePath, line: UInt = #line) async {
        await eventually({ exactly ? sleepers == n : sleepers >= n }, file: file, line: line)
    }
}
