import XCTest
import Foundation
import Logging
import PostgresNIO
import TestSupport
@testable import Lease

/// Partition leases against a real PostgreSQL 15 (docs/scale.md): one holder at a time, expiry by the server's
/// clock hands a partition over, the old holder's commits are fenced off, a server restart is ridden through.
final class PartitionLeaseTests: XCTestCase {
    nonisolated(unsafe) static var server: PostgresServer?
    var pg: PostgresServer { Self.server! }
    let logger: Logger = { var l = Logger(label: "test.lease"); l.logLevel = .error; return l }()

    override class func setUp() {
        super.setUp()
        server = try? PostgresServer.start()
    }

    override class func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    override func setUp() async throws {
        // Skips (or, with CI set, fails) here with the harness's own message when PostgreSQL is missing.
        if Self.server == nil { Self.server = try PostgresServer.start() }
        try pg.psql("DROP TABLE IF EXISTS partition_lease; DROP TABLE IF EXISTS work; DROP TABLE IF EXISTS engine_heartbeat")
    }

    /// The lease clients a test made, closed when it ends (postgres-nio wants every connection closed).
    var made: [PartitionLeases] = []

    override func tearDown() async throws {
        for l in made { await l.close() }
        made = []
    }

    func leases(retryBudget: Duration = .seconds(10)) throws -> PartitionLeases {
        let l = PartitionLeases(target: try PostgresTarget.parse(pg.url, environment: [:]), retryBudget: retryBudget, logger: logger)
        made.append(l)
        return l
    }

    func acquired(_ a: Acquisition) throws -> Lease {
        guard case .acquired(let lease) = a else { throw PostgresServerError("not acquired: \(a)") }
        return lease
    }

    /// One "commit" as the PostgreSQL store will make it: fence, then write, in one transaction.
    func commit(_ lease: Lease, _ value: String) async throws {
        let target = try PostgresTarget.parse(pg.url, environment: [:])
        let c = try await target.connect(logger: logger)
        do {
            try await c.query("BEGIN", logger: logger)
            do {
                try await PartitionLeases.fence(lease, on: c, logger: logger)
                try await c.query("INSERT INTO work (partition, token, value) VALUES (\(lease.partition), \(lease.token), \(value))", logger: logger)
                try await c.query("COMMIT", logger: logger)
            } catch {
                try await c.query("ROLLBACK", logger: logger)
                throw error
            }
        } catch {
            try? await c.close()
            throw error
        }
        try await c.close()
    }

    func testOneHolderGetsItTheSecondWaitsAndSaysWhoHoldsIt() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        try await b.prepare()
        let first = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(30)))
        XCTAssertEqual(first.token, 1)
        guard case .held(let h) = try await b.acquire("p1", holder: "engine-b", ttl: .seconds(30)) else { return XCTFail("b got it too") }
        XCTAssertEqual(h.holder, "engine-a")
        XCTAssertEqual(h.token, 1)
        XCTAssertGreaterThan(h.expiresInMs, 25_000)
        XCTAssertTrue(h.description.contains("held by engine-a with lease 1"), h.description)
        let mineAgain = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(30)))
        XCTAssertEqual(mineAgain.token, 1,
                       "asking again for one's own lease (a retry) returns it, no new token")

        let heard = Seen<LeaseHolder>()
        let waiting = Task { try await b.acquireWaiting("p1", holder: "engine-b", ttl: .seconds(30), every: .milliseconds(20)) { heard.add($0) } }
        while heard.all.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        XCTAssertEqual(heard.all.first?.holder, "engine-a")
        try await a.release(first)
        let second = try await waiting.value
        XCTAssertEqual(second.holder, "engine-b")
        XCTAssertEqual(second.token, 2, "a new acquisition, a new token")
        XCTAssertEqual(heard.all.count, 1, "it says so once per holder, not once per try")
        let other = try acquired(try await a.acquire("p2", holder: "engine-a", ttl: .seconds(30)))
        XCTAssertEqual(other.token, 1, "each partition counts its own tokens")
    }

    func testExpiryByTheServersClockHandsThePartitionOver() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        let started = ContinuousClock.now
        let old = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .milliseconds(400)))
        XCTAssertLessThanOrEqual(old.validUntil, started + .milliseconds(400) + .milliseconds(50))
        // a stops renewing (killed, paused); b polls and gets the partition once the server says the lease is over.
        let heard = Seen<LeaseHolder>()
        let new = try await b.acquireWaiting("p1", holder: "engine-b", ttl: .seconds(30), every: .milliseconds(25)) { heard.add($0) }
        let waited = ContinuousClock.now - started
        XCTAssertEqual(new.token, 2)
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(400), "never before the expiry")
        XCTAssertLessThan(waited, .seconds(5))
        XCTAssertGreaterThanOrEqual(old.validUntil, started, "sanity")
        XCTAssertLessThanOrEqual(old.validUntil, ContinuousClock.now, "a's own bound had passed before b could take over")
        do {
            _ = try await a.renew(old, ttl: .seconds(30))
            XCTFail("a renewed a lease b holds")
        } catch {
            guard case .lost(let p, let holder, let token, let now) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([p, holder], ["p1", "engine-a"])
            XCTAssertEqual(token, 1)
            XCTAssertEqual(now?.holder, "engine-b")
            XCTAssertTrue(error.description.contains("engine-a no longer holds lease 1 (held by engine-b with lease 2"), error.description)
        }
        do {
            try await a.release(old)
            XCTFail("a released b's lease")
        } catch {
            guard case .lost = error else { return XCTFail("\(error)") }
        }
        let holderNow = try await a.current("p1")?.holder
        XCTAssertEqual(holderNow, "engine-b", "a's late release changed nothing")
    }

    /// The keeper on the real table, its server connection frozen (SIGSTOP of the backend: the renewal is sent and
    /// never answered): it says the lease is lost before another holder can take the partition.
    func testAKeeperWhoseRenewalHangsStopsBeforeAnotherHolderCanTakeOver() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        let keeper = LeaseKeeper(table: a, partition: "p1", holder: "engine-a", ttl: .seconds(3), renewEvery: .milliseconds(500),
                                 margin: .milliseconds(500), clock: ContinuousClock())
        _ = try acquired(try await keeper.acquire())
        let keeping = Task { await keeper.keep() }
        // A renewal or two go through; then a's connection stops answering.
        let started = ContinuousClock.now
        while try pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cityeye'") != "1\n" {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(1200))
        let backend = try pg.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'cityeye'").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(backend) else { return XCTFail("no backend pid: \(backend)") }
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let stoppedAt = ContinuousClock.now
        let taker = Task { [b] in
            let lease = try await b.acquireWaiting("p1", holder: "engine-b", ttl: .seconds(30), every: .milliseconds(25)) { _ in }
            return (lease, ContinuousClock.now)
        }
        let loss = await keeping.value
        let lostAt = ContinuousClock.now
        guard case .unrenewed(let partition, let token, _)? = loss else { return XCTFail("got \(String(describing: loss))") }
        XCTAssertEqual(partition, "p1")
        XCTAssertEqual(token, 1)
        let (taken, takenAt) = try await taker.value
        XCTAssertEqual(taken.token, 2)
        XCTAssertLessThan(lostAt, takenAt, "a stopped before b took the partition")
        XCTAssertLessThan(lostAt - stoppedAt, .seconds(3), "a stopped within its bound, not after a retry budget")
        XCTAssertLessThan(takenAt - started, .seconds(10))
    }

    /// The roster of live engines is judged by the server's clock: an engine that stops beating drops out once its
    /// last beat is older than the window; one that leaves drops out at once; `fairShare` then splits over the rest.
    func testTheRosterListsEnginesWhoseHeartbeatIsYoungAndDropsTheSilentOnes() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        try await b.prepare()  // a second engine preparing the same tables is harmless
        try await a.heartbeat("engine-a")
        try await b.heartbeat("engine-b")
        try await b.heartbeat("engine-c")
        var live = try await a.liveEngines(within: .seconds(30))
        XCTAssertEqual(live, ["engine-a", "engine-b", "engine-c"])
        try await b.leaveRoster("engine-c")
        live = try await a.liveEngines(within: .seconds(30))
        XCTAssertEqual(live, ["engine-a", "engine-b"])
        // engine-b falls silent: its beat ages past a short window while engine-a keeps beating.
        try pg.psql("UPDATE engine_heartbeat SET beat_at = now() - interval '5 seconds' WHERE engine = 'engine-b'")
        try await a.heartbeat("engine-a")
        live = try await a.liveEngines(within: .seconds(2))
        XCTAssertEqual(live, ["engine-a"])
        let startedBefore = try pg.psql("SELECT started_at FROM engine_heartbeat WHERE engine = 'engine-a'")
        try await a.heartbeat("engine-a")
        XCTAssertEqual(try pg.psql("SELECT started_at FROM engine_heartbeat WHERE engine = 'engine-a'"), startedBefore,
                       "a beat moves beat_at only")
    }

    func testAnExpiredLeaseIsNotRenewedEvenWhenNobodyTookIt() async throws {
        let a = try leases()
        try await a.prepare()
        let lease = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(30)))
        try pg.psql("UPDATE partition_lease SET expires_at = now() - interval '1 second'")
        do {
            _ = try await a.renew(lease, ttl: .seconds(30))
            XCTFail("renewed an expired lease")
        } catch {
            guard case .lost(_, _, _, let now) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(now?.holder, "engine-a")
            XCTAssertLessThan(now?.expiresInMs ?? 1, 0)
        }
        let again = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(30)))
        XCTAssertEqual(again.token, 2, "it must acquire anew, with a new token")
    }

    /// The SIGSTOP case: a holder stops (no renewals), its lease expires, another takes the partition; when the
    /// first wakes up and tries to commit what it had, the fence refuses and nothing of it is written.
    func testAPausedHoldersCommitIsFencedOffAfterATakeover() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        try pg.psql("CREATE TABLE work (partition text, token bigint, value text)")
        let old = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(30)))
        try await commit(old, "a: before the pause")
        // a is paused: time passes on the server's clock beyond its expiry.
        try pg.psql("UPDATE partition_lease SET expires_at = now() - interval '1 second'")
        let new = try acquired(try await b.acquire("p1", holder: "engine-b", ttl: .seconds(30)))
        XCTAssertEqual(new.token, 2)
        try await commit(new, "b: after the takeover")
        do {
            try await commit(old, "a: woke up and commits")
            XCTFail("the old holder committed after the takeover")
        } catch let e as LeaseError {
            guard case .fenced(let p, let token, let now) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, "p1")
            XCTAssertEqual(token, 1)
            XCTAssertEqual(now?.holder, "engine-b")
            XCTAssertEqual(now?.token, 2)
            XCTAssertTrue(e.description.contains("commit refused, lease 1 is not the current one"), e.description)
        }
        XCTAssertEqual(try pg.psql("SELECT value FROM work ORDER BY value"), "a: before the pause\nb: after the takeover\n")
        // Expired but not yet taken is refused too: the holder must renew in time or acquire anew.
        try pg.psql("UPDATE partition_lease SET expires_at = now() - interval '1 second'")
        do {
            try await commit(new, "b: too late")
            XCTFail("committed on an expired lease")
        } catch let e as LeaseError {
            guard case .fenced(_, _, let now) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(now?.holder, "engine-b")
        }
    }

    /// A takeover cannot pass a commit that has fenced: the acquisition waits on the lease row's lock until the
    /// old holder's transaction ends, so nothing the old holder commits lands after the new holder began.
    func testATakeoverWaitsForACommitInFlight() async throws {
        let a = try leases(), b = try leases()
        try await a.prepare()
        let old = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .milliseconds(300)))
        let target = try PostgresTarget.parse(pg.url, environment: [:])
        let c = try await target.connect(logger: logger)
        try await c.query("BEGIN", logger: logger)
        try await PartitionLeases.fence(old, on: c, logger: logger)
        let order = Seen<String>()
        let taking = Task {
            let got = try await b.acquireWaiting("p1", holder: "engine-b", ttl: .seconds(30), every: .milliseconds(20)) { _ in }
            order.add("b acquired")
            return got
        }
        // Past a's expiry b's acquisition blocks on the row lock a's transaction holds: wait until the server
        // shows a backend waiting on a lock.
        let deadline = ContinuousClock.now + .seconds(10)
        while try pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") != "1\n" {
            guard ContinuousClock.now < deadline else {
                taking.cancel()
                return XCTFail("b never blocked on a's open commit: \(order.all)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(order.all, [], "b is blocked, not acquired")
        order.add("a commits")
        try await c.query("COMMIT", logger: logger)
        try await c.close()
        let new = try await taking.value
        XCTAssertEqual(order.all, ["a commits", "b acquired"])
        XCTAssertEqual(new.token, 2)
    }

    func testAServerRestartMidLeaseIsRiddenThrough() async throws {
        let a = try leases()
        try await a.prepare()
        try pg.psql("CREATE TABLE work (partition text, token bigint, value text)")
        let lease = try acquired(try await a.acquire("p1", holder: "engine-a", ttl: .seconds(60)))
        _ = try await a.renew(lease, ttl: .seconds(60))
        try pg.restart()
        let renewed = try await a.renew(lease, ttl: .seconds(60))
        XCTAssertEqual(renewed.token, lease.token, "the lease row outlived the restart")
        try await commit(renewed, "after the restart")
        // Down for a moment, then up again while the renewal is still retrying.
        try pg.stopServer()
        let restarting = Task.detached { [pg] in
            try await Task.sleep(for: .milliseconds(700))
            try pg.start()
        }
        let again = try await a.renew(renewed, ttl: .seconds(60))
        try await restarting.value
        XCTAssertEqual(again.token, lease.token)
        XCTAssertEqual(try pg.psql("SELECT token FROM partition_lease WHERE partition = 'p1'"), "1\n")
    }

    func testAServerThatIsDownIsAClearErrorAfterTheRetryBudget() async throws {
        let target = try PostgresTarget.parse("postgres://cityeye@127.0.0.1:1/postgres", environment: ["PGPASSWORD": "hunter2-secret"])
        let down = PartitionLeases(target: target, retryBudget: .milliseconds(500), logger: logger)
        made.append(down)
        let started = ContinuousClock.now
        do {
            try await down.prepare()
            XCTFail("prepared on nothing")
        } catch {
            guard case .unreachable(let server, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(server, "postgres://cityeye@127.0.0.1:1/postgres")
            XCTAssertTrue(error.description.contains("cannot be reached"), error.description)
            XCTAssertFalse(error.description.contains("hunter2"), "never the password: \(error.description)")
        }
        let took = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(took, .milliseconds(300), "it retried for the budget")
        XCTAssertLessThan(took, .seconds(5))
    }

    func testAWrongPasswordIsADatabaseErrorWithoutThePassword() async throws {
        let secured = try PostgresServer.start(password: "right-password")
        defer { secured.stop() }
        let wrong = try PostgresTarget.parse(secured.url, environment: ["PGPASSWORD": "wrong-password-xyz"])
        do {
            _ = try await wrong.connect(logger: logger)
            XCTFail("connected with a wrong password")
        } catch {
            guard case .database(let server, let why) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(server, secured.url)
            XCTAssertTrue(why.contains("28P01"), why)
            XCTAssertFalse(error.description.contains("wrong-password-xyz"), error.description)
        }
        let folder = try temporaryPath("pw")
        try "right-password\n".write(toFile: folder + "/pg.pw", atomically: true, encoding: .utf8)
        let right = try PostgresTarget.parse(secured.url, passwordFile: folder + "/pg.pw", environment: ["PGPASSWORD": "wrong-password-xyz"])
        XCTAssertEqual(right.password, "right-password", "the file wins over PGPASSWORD, its newline dropped")
        let c = try await right.connect(logger: logger)
        try await c.close()
    }

    /// Round trips against the local server, printed for docs/scale.md (the assertion is only that each renewal
    /// kept the lease).
    func testRoundTripTimes() async throws {
        // Its own server with fsync on (the shared one runs with fsync off for speed): a lease write is a commit.
        let durable = try PostgresServer.start(fsync: true)
        defer { durable.stop() }
        let a = PartitionLeases(target: try PostgresTarget.parse(durable.url, environment: [:]), logger: logger)
        made.append(a)
        try await a.prepare()
        var lease = try acquired(try await a.acquire("rtt", holder: "engine-a", ttl: .seconds(30)))
        var renews: [Duration] = [], cycles: [Duration] = []
        for _ in 0..<300 {
            let t0 = ContinuousClock.now
            lease = try await a.renew(lease, ttl: .seconds(30))
            renews.append(ContinuousClock.now - t0)
        }
        try await a.release(lease)
        for i in 0..<300 {
            let t0 = ContinuousClock.now
            let l = try acquired(try await a.acquire("rtt-\(i % 10)", holder: "engine-a", ttl: .seconds(30)))
            cycles.append(ContinuousClock.now - t0)
            try await a.release(l)
        }
        XCTAssertEqual(lease.token, 1)
        // The client's own floor: a query that writes nothing, on a connection of its own.
        let c = try await PostgresTarget.parse(durable.url, environment: [:]).connect(logger: logger)
        var selects: [Duration] = []
        for _ in 0..<300 {
            let t0 = ContinuousClock.now
            try await c.query("SELECT 1", logger: logger)
            selects.append(ContinuousClock.now - t0)
        }
        try await c.close()
        func ms(_ xs: [Duration], _ q: Double) -> String {
            let s = xs.sorted()
            let d = s[min(s.count - 1, Int(Double(s.count) * q))]
            return String(format: "%.2f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
        }
        print("lease round trips (ms): renew p50 \(ms(renews, 0.5)) p99 \(ms(renews, 0.99)); acquire p50 \(ms(cycles, 0.5)) p99 \(ms(cycles, 0.99)); SELECT 1 p50 \(ms(selects, 0.5)) p99 \(ms(selects, 0.99))")
    }
}
