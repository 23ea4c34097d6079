import XCTest
import Foundation
import Logging
import TestSupport
import Model
import Store
import Engine
import Lease
import PostgresStore

/// One PostgreSQL store shared by partitions (docs/scale.md): each partition keeps its own engine state, rule state
/// and processed ids, new incidents take ids no other partition gave, and a commit whose lease is over is refused
/// with nothing written.
final class PartitionStoreTests: PostgresTestCase {
    func database(_ name: String) throws -> PostgresTarget {
        _ = try pg.psql("CREATE DATABASE \(name)")
        return try PostgresTarget.parse("postgres://\(pg.user)@127.0.0.1:\(pg.port)/\(name)")
    }

    /// Runs `body` with a lease table on `target`, closed after it whatever happens (postgres-nio traps on a
    /// connection that is dropped unclosed).
    func withLeases(_ target: PostgresTarget, _ body: (PartitionLeases) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let l = PartitionLeases(target: target, retryBudget: .seconds(2), logger: logger)
        do {
            try await l.prepare()
            try await body(l)
        } catch {
            await l.close()
            throw error
        }
        await l.close()
    }

    /// A partition's pipeline on the shared store (locked for partitions, as an engine opens it), with the registry
    /// in `dir`.
    func openPartition(_ target: PostgresTarget, dir: String, _ partition: String, _ community: String, lease: Lease,
                       loadsOlderKeysAside: Bool = false) throws -> Pipeline {
        let store = try PostgresStore(target: target, scope: PartitionScope(partition: partition, communities: [community], lease: lease))
        try store.lockForPartitions()
        var setup = EngineSetup(registry: dir + "/registry.yaml", rules: Repo.scenarios.path, store: target.description)
        setup.auditKeyFile = dir + "/audit-key"
        setup.openStore = { _ in store }
        setup.loadsOlderKeysAside = loadsOlderKeysAside
        return try setup.open()
    }

    func take(_ l: PartitionLeases, _ p: String, _ holder: String) async throws -> Lease {
        guard case .acquired(let lease) = try await l.acquire(p, holder: holder, ttl: .seconds(30)) else {
            XCTFail("partition \(p) not free"); throw CancellationError()
        }
        return lease
    }

    /// Two partitions' pipelines opened on one empty store, each raising an incident for its own community, batches
    /// alternating: ids never collide (both would give id 1, and the second would overwrite the first), each keeps its own rule state and processed ids, and each carries over only its own incidents.
    func testPartitionsShareTheStoreWithoutSharingState() async throws {
        let target = try database("shared")
        try await withLeases(target) { l in
            let dir = try temporaryPath("partition-store")
            try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
            func open(_ p: String, _ community: String, _ lease: Lease) throws -> Pipeline {
                try openPartition(target, dir: dir, p, community, lease: lease)
            }
            let east = try open("east", "changzhengqiao", try await take(l, "east", "e1"))
            let west = try open("west", "wenhui", try await take(l, "west", "e2"))
            let t0 = Instant(ms: 1_767_000_000_000)
            for i in 0..<6 {
                for (p, c, d) in [(east, "changzhengqiao", "czq-smoke-01"), (west, "wenhui", "wh-smoke-01")] {
                    let line = "{\"id\":\"\(c)-\(i)\",\"ts\":\"\(RFC3339.format(t0 + Int64(i) * 60_000))\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}"
                    try p.process(batch: LineBatch([line], topic: "cityeye/\(c)/\(d)"), now: t0 + Int64(i) * 60_000 + 1, saveRuleState: true)
                }
            }
            east.store.close(); west.store.close()
            let reader = try PostgresStore(target: target, create: false)
            defer { reader.close() }
            let all = try reader.incidents()
            XCTAssertEqual(Set(all.map(\.id)).count, all.count, "no id given twice")
            XCTAssertEqual(Set(all.map(\.community)), ["changzhengqiao", "wenhui"])
            XCTAssertEqual(all.filter { $0.community == "wenhui" }.reduce(0) { $0 + $1.count }, 6)
            XCTAssertEqual(all.filter { $0.community == "changzhengqiao" }.reduce(0) { $0 + $1.count }, 6)
            let parts = try pg.psql("SELECT DISTINCT part FROM processed_batch ORDER BY part", in: "shared")
            XCTAssertEqual(parts.split(separator: "\n").map(String.init), ["east", "west"])
            let clocks = try pg.psql("SELECT part FROM engine_state WHERE name = 'rules.clock' ORDER BY part", in: "shared")
            XCTAssertEqual(clocks.split(separator: "\n").map(String.init), ["east", "west"])

            // Opened again (as after a takeover), a partition carries over its own open incident only, and knows its own
            // processed ids.
            let again = try open("west", "wenhui", try await take(l, "west", "e2"))
            defer { again.store.close() }
            XCTAssertEqual(try again.store.notClosedIncidents().map(\.community), ["wenhui"])
            let replayed = "{\"id\":\"wenhui-5\",\"ts\":\"\(RFC3339.format(t0 + 5 * 60_000))\",\"device\":\"wh-smoke-01\",\"type\":\"smoke.alarm\",\"data\":{}}"
            try again.process(batch: LineBatch([replayed], topic: "cityeye/wenhui/wh-smoke-01"), now: t0 + 6 * 60_000, saveRuleState: true)
            XCTAssertEqual(again.counts.duplicates, 1, "it knows its own processed ids: a redelivery after a takeover is not counted twice")
        }
    }

    /// A partition taken over loads only the last hour of its processed ids before it takes messages, the rest of the
    /// 25 h on a connection of its own meanwhile (`loadsOlderKeysAside`): a redelivery of an old event waits for them
    /// and is still a duplicate, a recent one is known at once, and a new old event is counted.
    func testATakenOverPartitionLoadsItsOlderProcessedIdsAsideAndCountsNoRedeliveryTwice() async throws {
        let target = try database("aside")
        try await withLeases(target) { l in
            let dir = try temporaryPath("partition-aside")
            try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
            let lease = try await take(l, "east", "e1")
            func open(aside: Bool) throws -> Pipeline {
                try openPartition(target, dir: dir, "east", "changzhengqiao", lease: lease, loadsOlderKeysAside: aside)
            }
            let t0 = Instant(ms: 1_767_000_000_000)
            func alarm(_ id: String, hour: Int64) -> LineBatch {
                LineBatch(["{\"id\":\"\(id)\",\"ts\":\"\(RFC3339.format(t0 + hour * Durations.hour))\",\"device\":\"czq-smoke-01\",\"type\":\"smoke.alarm\",\"data\":{}}"],
                          topic: "cityeye/changzhengqiao/czq-smoke-01")
            }
            // 20 hours of alarms, one batch an hour: the last hour's keys are recent, the rest older.
            let first = try open(aside: false)
            for h in Int64(0)..<20 { try first.process(batch: alarm("a-\(h)", hour: h), now: t0 + h * Durations.hour + 1, saveRuleState: true) }
            first.store.close()

            let again = try open(aside: true)
            defer { again.store.close() }
            let now = t0 + 20 * Durations.hour
            try again.process(batch: alarm("a-19", hour: 19), now: now, saveRuleState: true)
            XCTAssertEqual(again.counts.duplicates, 1, "the last hour's ids are loaded before the first message")
            try again.process(batch: alarm("a-0", hour: 0), now: now, saveRuleState: true)
            XCTAssertEqual(again.counts.duplicates, 2, "a redelivered event of 20 h ago waits for the older ids and is known")
            XCTAssertFalse(again.loadingOlderKeys)
            try again.process(batch: alarm("late-3", hour: 3), now: now, saveRuleState: true)
            XCTAssertEqual(again.counts.accepted, 1, "an old event never seen is counted")
            let reader = try PostgresStore(target: target, create: false)
            defer { reader.close() }
            XCTAssertEqual(try reader.incidents().reduce(0) { $0 + $1.count }, 21, "20 alarms and the late one, none twice")
        }
    }

    /// A commit whose lease expired and was taken by another engine is refused (`fenced`) and writes nothing; the
    /// new holder commits.
    func testACommitAfterTheLeaseIsTakenIsFenced() async throws {
        let target = try database("fenced")
        try await withLeases(target) { l in
            let dir = try temporaryPath("partition-fence")
            try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
            let old = try await take(l, "east", "engine-a")
            let pipeline = try openPartition(target, dir: dir, "east", "changzhengqiao", lease: old)
            defer { pipeline.store.close() }
            let store = try XCTUnwrap(pipeline.store as? PostgresStore)
            let t0 = Instant(ms: 1_767_000_000_000)
            func alarm(_ i: Int) -> LineBatch {
                LineBatch(["{\"id\":\"a-\(i)\",\"ts\":\"\(RFC3339.format(t0 + Int64(i)))\",\"device\":\"czq-smoke-01\",\"type\":\"smoke.alarm\",\"data\":{}}"],
                          topic: "cityeye/changzhengqiao/czq-smoke-01")
            }
            try pipeline.process(batch: alarm(1), now: t0 + 10, saveRuleState: true)
            XCTAssertNoThrow(try store.checkLease())
            // The lease runs out (the engine froze past it) and another engine takes the partition.
            _ = try pg.psql("UPDATE partition_lease SET expires_at = now() WHERE partition = 'east'", in: "fenced")
            let new = try await take(l, "east", "engine-b")
            XCTAssertEqual(new.token, old.token + 1)
            // The lease check alone (a batch with nothing to commit, before its acknowledgements) refuses too.
            XCTAssertThrowsError(try store.checkLease()) { XCTAssertEqual(($0 as? StoreError)?.code, .fenced, "\($0)") }
            XCTAssertThrowsError(try pipeline.process(batch: alarm(2), now: t0 + 20, saveRuleState: true)) { error in
                let code = (error as? StoreError)?.code ?? (error as? EngineError)?.storeFault?.code
                XCTAssertEqual(code, .fenced, "\(error)")
                XCTAssertTrue("\(error)".contains("partition east: lease \(old.token) of engine-a is over (engine-b holds it with token \(new.token))"), "\(error)")
            }
            let reader = try PostgresStore(target: target, create: false)
            defer { reader.close() }
            XCTAssertEqual(try reader.incidents().map(\.count), [1], "the fenced batch wrote nothing")
        }
    }

    /// A replay takes the whole store: partitioned engines are refused while it runs, and it is refused while they do.
    func testAReplayAndPartitionedEnginesExcludeEachOther() async throws {
        let target = try database("exclusive")
        try await withLeases(target) { l in
            let lease = try await take(l, "east", "e1")
            let partitioned = try PostgresStore(target: target, scope: PartitionScope(partition: "east", communities: [], lease: lease))
            try partitioned.lockForPartitions()
            let second = try PostgresStore(target: target, scope: PartitionScope(partition: "east", communities: [], lease: lease))
            XCTAssertNoThrow(try second.lockForPartitions(), "partitioned engines share the store")
            let replay = try PostgresStore(target: target)
            XCTAssertThrowsError(try replay.lockForEngine(role: "cityeye replay")) { XCTAssertEqual(($0 as? StoreError)?.code, .busy) }
            partitioned.close(); second.close()
            // The server lets a session's locks go once it sees the connection close, a moment later.
            try waitUntil("the partitioned engines' locks let go", timeout: 10) {
                (try? replay.lockForEngine(role: "cityeye replay")) != nil
            }
            let late = try PostgresStore(target: target, scope: PartitionScope(partition: "east", communities: [], lease: lease))
            XCTAssertThrowsError(try late.lockForPartitions()) { XCTAssertTrue("\($0)".contains("in use by a replay"), "\($0)") }
            late.close(); replay.close()
        }
    }
}

/// Log lines as one batch, each with the MQTT topic it came on.
struct LineBatch: MessageBatch {
    let lines: [String]
    let topic: String
    init(_ lines: [String], topic: String) { self.lines = lines; self.topic = topic }
    var source: String? { nil }
    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        for l in lines {
            try Array(l.utf8).withUnsafeBytes { try body(InboundMessage(payload: $0, topic: topic)) }
        }
    }
}
