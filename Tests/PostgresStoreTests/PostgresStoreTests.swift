import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Rules
import Store
import AuditChain
import Simulation
import Lease
@testable import Engine
@testable import PostgresStore

/// The PostgreSQL store against a real PostgreSQL 15 (the `PostgresServer` helper): a replay into it ends exactly as
/// the same replay into SQLite, a replay cut short and run again ends as an uninterrupted one, and what goes wrong
/// (server down, no such database, a database of something else, a second engine) is a typed error that says so.
final class PostgresStoreTests: PostgresTestCase {
    func sqlitePath() throws -> String { try temporaryPath("cityeye-pgstore") + "/store.db" }

    /// Everything a replay leaves in a store that the two kinds must agree on.
    struct Outcome: Equatable {
        var incidents: [Incident]
        var audit: [AuditRow]
        var heads: [String: AuditHead]
        var events: [IncidentEvent]
        var deadLetters: [DeadLetter]
        var deadLetterCounts: [DeadLetterCount]
        var deadLetterTotal: [Int]
        var ruleKeys: [String]
        var clock: [UInt8]?
    }

    func outcome(_ s: any EngineStore) throws -> Outcome {
        var rows: [AuditRow] = []
        try s.forEachAuditRow { rows.append($0); return true }
        let total = try s.deadLetterTotal()
        return Outcome(incidents: try s.incidents(), audit: rows, heads: try s.auditHeads(), events: try s.allIncidentEvents(),
                       deadLetters: try s.deadLetters(), deadLetterCounts: try s.deadLetterCountsByTopic(),
                       deadLetterTotal: [total.payloadBytes, total.rows],
                       ruleKeys: try s.ruleKeys().map { "\($0.rule) \($0.key) \($0.state)" }, clock: try s.state(Pipeline.ruleClockName))
    }

    /// Each scenario: its registry, and its log with malformed lines added (dead letters on both sides).
    struct Case {
        var name: String
        var registry: Registry
        var log: String
        var lines: Int
    }

    func scenarioCases() throws -> [Case] {
        var rng = SeededRandom(seed: 15)
        var out: [Case] = []
        let folder = try temporaryPath("cityeye-pgstore-logs")
        for scenario in try ScenarioLog.all() {
            var lines = scenario.lines
            lines.insert("{broken", at: 1 + Int.random(in: 0..<(lines.count - 1), using: &rng))
            // U+0000 in a dead letter's detail and topic: PostgreSQL text cannot hold it (bytea there).
            lines.insert("{\"id\":\"x\u{0}y\",\"topic\":\"cityeye/\u{0}/t\"}", at: 1 + Int.random(in: 0..<(lines.count - 1), using: &rng))
            let path = folder + "/" + scenario.file
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            out.append(Case(name: scenario.name, registry: try RegistryLoader.load(path: scenario.registryPath), log: path, lines: lines.count))
        }
        XCTAssertEqual(out.count, 8, "the eight scenarios")
        return out
    }

    /// Both stores sealed with one key: the MACs must come out the same.
    func sealed<S: EngineStore>(_ s: S, key: AuditKey) -> S {
        s.setAuditSealer(KeySealer(key: key))
        return s
    }

    func testEveryScenarioReplayedIntoPostgreSQLEqualsTheSameReplayIntoSQLite() throws {
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        let key = try AuditKey.load(path: try temporaryPath("cityeye-key") + "/k", create: true)
        for c in try scenarioCases() {
            let lite = sealed(try Store(path: try sqlitePath()), key: key)
            let summaryLite = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: lite), files: [c.log])
            let pgStore = sealed(try PostgresStore(target: try newDatabase()), key: key)
            let summaryPG = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: pgStore), files: [c.log])
            XCTAssertEqual(summaryPG.counts, summaryLite.counts, c.name)
            let expected = try outcome(lite)
            XCTAssertFalse(expected.incidents.isEmpty, c.name)
            XCTAssertGreaterThanOrEqual(expected.deadLetters.count, 2, c.name)
            XCTAssertFalse(expected.heads.isEmpty, "\(c.name): the audit rows are sealed")
            let got = try outcome(pgStore)
            XCTAssertEqual(got.incidents, expected.incidents, c.name)
            XCTAssertEqual(got.audit, expected.audit, c.name)
            XCTAssertEqual(got.heads, expected.heads, c.name)
            XCTAssertEqual(got.events, expected.events, c.name)
            XCTAssertEqual(got.deadLetters, expected.deadLetters, c.name)
            XCTAssertEqual(got.deadLetterCounts, expected.deadLetterCounts, c.name)
            XCTAssertEqual(got.deadLetterTotal, expected.deadLetterTotal, c.name)
            XCTAssertEqual(got.ruleKeys, expected.ruleKeys, c.name)
            XCTAssertEqual(got.clock, expected.clock, c.name)
            XCTAssertTrue(try AuditTrail.verify(store: pgStore, key: key).intact, "\(c.name): the chains verify in PostgreSQL")

            // Run again into the same stores: everything is a duplicate, nothing changes, on both sides alike.
            let againLite = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: lite), files: [c.log])
            let againPG = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: pgStore), files: [c.log])
            XCTAssertEqual(againPG.counts, againLite.counts, c.name)
            XCTAssertEqual(againPG.counts.accepted, 0, c.name)
            XCTAssertEqual(try outcome(pgStore), try outcome(lite), c.name)
            lite.close()
            pgStore.close()
        }
    }

    /// A partition's engine sends a batch's audit rows, occurrences, dead letters and processed ids every few
    /// messages, and its incidents once at the batch's end (`Pipeline.process(writesEvery:)`): the store must end
    /// exactly as with one write a batch, whatever the part size.
    func testABatchWrittenInPartsEndsAsTheSameBatchWrittenOnce() throws {
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        let key = try AuditKey.load(path: try temporaryPath("cityeye-key") + "/k", create: true)
        var rng = SeededRandom(seed: 2026)
        for c in try scenarioCases() {
            let batchSize = Int.random(in: 20...200, using: &rng), parts = Int.random(in: 1...7, using: &rng)
            let what = "\(c.name): batches of \(batchSize), written every \(parts)"
            let lite = sealed(try Store(path: try sqlitePath()), key: key)
            let summaryLite = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: lite), files: [c.log], batchSize: batchSize)
            let pgStore = sealed(try PostgresStore(target: try newDatabase()), key: key)
            let summaryPG = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: pgStore), files: [c.log],
                                           batchSize: batchSize, writesEvery: parts)
            XCTAssertEqual(summaryPG.counts, summaryLite.counts, what)
            let expected = try outcome(lite)
            XCTAssertFalse(expected.events.isEmpty, what)
            XCTAssertEqual(try outcome(pgStore), expected, what)
            XCTAssertTrue(try AuditTrail.verify(store: pgStore, key: key).intact, "\(what): the chains verify")
            lite.close()
            pgStore.close()
        }
    }

    /// A write is sent without waiting for its answer: when the server refuses it, the transaction fails at its
    /// next read or its COMMIT with the server's reason, and nothing of it is committed (PostgreSQL answers COMMIT
    /// of a failed transaction with a ROLLBACK, not an error: that must not pass for a commit).
    func testAWriteSentAheadThatTheServerRefusesFailsTheCommitAndLeavesNothing() throws {
        let store = try PostgresStore(target: try newDatabase())
        defer { store.close() }
        try pg.psql("""
            CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.name = 'boom' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_boom BEFORE INSERT ON engine_state FOR EACH ROW EXECUTE FUNCTION refuse_boom();
            """, in: store.target.database)
        XCTAssertThrowsError(try store.transaction { tx in
            try tx.setState("a", [1])
            try tx.setState("boom", [2])
            try tx.setState("c", [3])
        }) { XCTAssertTrue("\($0)".contains("refused by the test trigger"), "\($0)") }
        XCTAssertNil(try store.state("a"))
        XCTAssertNil(try store.state("c"))
        // Refused before a read inside the transaction: the read fails with the refusal, not with its own statement.
        XCTAssertThrowsError(try store.transaction { tx in
            try tx.setState("boom", [2])
            _ = try tx.lastAuditRow()
        }) { XCTAssertTrue("\($0)".contains("refused by the test trigger"), "\($0)") }
        // The connection goes on: the next transaction commits.
        try store.transaction { tx in try tx.setState("a", [4]) }
        XCTAssertEqual(try store.state("a"), [4])
    }

    func testAReplayIntoPostgreSQLCutShortAndRunAgainEqualsOneUninterruptedReplay() throws {
        var rng = SeededRandom(seed: 1515)
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        var cases = 0
        for c in try scenarioCases() {
            let lite = try Store(path: try sqlitePath())
            _ = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: lite), files: [c.log])
            let expected = try outcome(lite)
            lite.close()
            for _ in 0..<2 {
                let batchSize = Int.random(in: 1...5, using: &rng)
                let cuts = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 0...(c.lines / batchSize), using: &rng) }
                let target = try newDatabase()
                let litePath = try sqlitePath()
                for cut in cuts {
                    for store in [try PostgresStore(target: target), try Store(path: litePath)] as [any EngineStore] {
                        let p = try Pipeline(registry: c.registry, rules: rules, store: store)
                        XCTAssertThrowsError(try Replay.runCut(p, files: [c.log], batchSize: batchSize, batches: cut)) { XCTAssertTrue($0 is ReplayCut) }
                        store.close()
                    }
                }
                let store = try PostgresStore(target: target)
                _ = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: store), files: [c.log], batchSize: batchSize)
                let got = try outcome(store)
                let what = "\(c.name): batch size \(batchSize), cut after \(cuts) batches"
                // What a cut replay promises (Replay.batchSize): the incidents, audit, events and dead letters of one
                // uninterrupted replay.
                XCTAssertEqual(got.incidents, expected.incidents, what)
                XCTAssertEqual(got.audit, expected.audit, what)
                XCTAssertEqual(got.events, expected.events, what)
                XCTAssertEqual(got.deadLetters, expected.deadLetters, what)
                XCTAssertEqual(got.deadLetterCounts, expected.deadLetterCounts, what)
                XCTAssertEqual(got.deadLetterTotal, expected.deadLetterTotal, what)
                // And everything else (rule state included) as the same cuts into SQLite leave it.
                let lite = try Store(path: litePath)
                _ = try Replay.run(try Pipeline(registry: c.registry, rules: rules, store: lite), files: [c.log], batchSize: batchSize)
                XCTAssertEqual(got, try outcome(lite), what)
                lite.close()
                store.close()
                cases += 1
            }
        }
        XCTAssertEqual(cases, 16)
    }

    func testAServerThatIsDownIsAClearErrorWithoutThePassword() throws {
        let port = try PostgresServer.unusedPort()
        let target = try PostgresTarget.parse("postgres://cityeye@127.0.0.1:\(port)/city", environment: ["PGPASSWORD": "s3cret-pw"])
        XCTAssertThrowsError(try PostgresStore(target: target)) { error in
            guard let e = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, .unreachable)
            XCTAssertTrue(e.description.contains("postgres://cityeye@127.0.0.1:\(port)/city cannot be reached"), e.description)
            XCTAssertFalse(e.description.contains("s3cret-pw"), e.description)
        }
    }

    func testAMissingDatabaseAWrongPasswordAndADatabaseOfSomethingElseAreRefusedSayingWhy() throws {
        let missing = try PostgresTarget.parse("postgres://\(pg.user)@127.0.0.1:\(pg.port)/nosuchdb", environment: [:])
        XCTAssertThrowsError(try PostgresStore(target: missing)) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.code, .missing)
            XCTAssertTrue("\(error)".contains("database \"nosuchdb\" does not exist"), "\(error)")
        }
        let other = try newDatabase()
        try pg.psql("CREATE TABLE invoice (id int)", in: other.database)
        XCTAssertThrowsError(try PostgresStore(target: other)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .notAStore)
            XCTAssertTrue("\(error)".contains("is not a City Eye store"), "\(error)")
        }
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", in: other.database)
            .trimmingCharacters(in: .whitespacesAndNewlines), "1", "nothing was created in it")
        let empty = try newDatabase()
        XCTAssertThrowsError(try PostgresStore(target: empty, create: false)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .missing)
            XCTAssertTrue("\(error)".contains("run `cityeye replay --db"), "\(error)")
        }
    }

    func testASecondEngineIsRefusedWhileTheFirstHoldsTheStoreAndTakesItOnceTheFirstIsGone() throws {
        let target = try newDatabase()
        let first = try PostgresStore(target: target)
        try first.lockForEngine(role: "cityeye replay")
        let second = try PostgresStore(target: target)
        XCTAssertThrowsError(try second.lockForEngine(role: "cityeye replay")) { error in
            XCTAssertEqual((error as? StoreError)?.code, .busy)
            XCTAssertTrue("\(error)".contains("is in use by another City Eye engine (server process"), "\(error)")
        }
        first.close()
        XCTAssertNoThrow(try second.lockForEngine(role: "cityeye replay"))
        second.close()
    }

    /// A server that stops answering (its backend frozen by SIGSTOP) is an error after the query timeout, not a wait
    /// for ever.
    func testAServerThatStopsAnsweringIsAnErrorAfterTheQueryTimeout() throws {
        let target = try newDatabase()
        let store = try PostgresStore(target: target, queryTimeout: .seconds(1))
        defer { store.close() }
        try store.transaction { try $0.setState("a", [1]) }
        let backend = try pg.psql("SELECT pid FROM pg_stat_activity WHERE datname = '\(target.database)' AND pid <> pg_backend_pid()")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(backend) else { return XCTFail("no backend for the store: \(backend)") }
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let started = Date()
        XCTAssertThrowsError(try store.state("a")) { error in
            XCTAssertEqual((error as? StoreError)?.code, .unreachable)
            XCTAssertTrue("\(error)".contains("did not answer within 1"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertThrowsError(try store.state("a"), "the connection is gone: an error again, at once")
    }

    func testAStoreWithANewerSchemaIsLeftAlone() throws {
        let target = try newDatabase()
        try PostgresStore(target: target).close()
        try pg.psql("INSERT INTO schema_migration (version, name) VALUES (99, 'from-the-future')", in: target.database)
        XCTAssertThrowsError(try PostgresStore(target: target)) { error in
            XCTAssertEqual((error as? StoreError)?.code, .newerSchema)
            XCTAssertTrue("\(error)".contains("schema version 99, newer than this cityeye knows"), "\(error)")
        }
    }

    func testAWriteTransactionThatFailsLeavesNothingBehind() throws {
        let store = try PostgresStore(target: try newDatabase())
        defer { store.close() }
        struct Stop: Error {}
        XCTAssertThrowsError(try store.transaction { tx in
            try tx.setState("a", [1, 2, 3])
            _ = try tx.append([AuditEntry(incident: 1, at: Instant(ms: 5), actor: "engine", action: .raised, note: "")], chains: ["c"])
            throw Stop()
        })
        XCTAssertNil(try store.state("a"))
        XCTAssertEqual(try store.lastAuditRow(), 0)
        // The audit trail is append-only in PostgreSQL too.
        try store.transaction { tx in
            _ = try tx.append([AuditEntry(incident: 1, at: Instant(ms: 5), actor: "engine", action: .raised, note: "")], chains: ["c"])
        }
        XCTAssertThrowsError(try pg.psql("UPDATE audit SET note = 'changed'", in: store.target.database)) {
            XCTAssertTrue("\($0)".contains("audit rows are append-only"), "\($0)")
        }
        XCTAssertThrowsError(try pg.psql("DELETE FROM audit", in: store.target.database))
        XCTAssertEqual(try store.allAudit().map(\.note), [""])
    }

    /// The dead letters' retention (age, then total size) deletes the same rows in both stores, batch after batch.
    func testDeadLetterRetentionDeletesTheSameRowsAsInSQLite() throws {
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        var policy = DeadLetterPolicy()
        policy.maxAge = Durations.hour
        policy.maxTotalBytes = 10_000
        let stores: [any EngineStore] = [try Store(path: try sqlitePath()), try PostgresStore(target: try newDatabase())]
        let pipelines = try stores.map { try Pipeline(registry: registry, rules: rules, store: $0, deadLetters: policy) }
        let t0 = Instant(ms: 1_795_500_000_000)
        for minute in 0..<90 {
            // 1 KB of garbage a minute, two sources; a gap of half an hour lets the age retention delete some.
            guard minute < 40 || minute >= 70 else { continue }
            let lines = (0..<2).map { k in ("{" + String(format: "%03d-%d", minute, k) + String(repeating: "x", count: 500), "cityeye/g/\(k)") }
            for p in pipelines { try p.process(batch: Lines(items: lines), now: t0 + Millis(minute) * Durations.minute) }
            let kept = try stores.map { try $0.deadLetters() }
            XCTAssertEqual(kept[1], kept[0], "minute \(minute)")
            XCTAssertEqual(try stores[1].deadLetterCountsByTopic(), try stores[0].deadLetterCountsByTopic(), "minute \(minute)")
            XCTAssertEqual(try stores[1].deadLetterTotal().payloadBytes, try stores[0].deadLetterTotal().payloadBytes, "minute \(minute)")
            XCTAssertEqual(try stores[1].deadLetterTotal().rows, kept[0].count, "minute \(minute)")
        }
        let kept = try stores[1].deadLetters()
        XCTAssertLessThanOrEqual(try stores[1].deadLetterTotal().payloadBytes, policy.maxTotalBytes)
        XCTAssertTrue(kept.allSatisfy { $0.receivedAt >= t0 + 29 * Durations.minute }, "older than an hour at minute 89: gone")
        XCTAssertEqual(try stores[1].deadLetterCountsByTopic().map(\.count).reduce(0, +), 120, "every rejection still counted (60 minutes, two a minute)")
        for s in stores { s.close() }
    }
}

/// Messages handed to a pipeline as a live batch (payload, topic).
struct Lines: MessageBatch {
    var items: [(String, String)]
    var source: String? { nil }
    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        for (payload, topic) in items {
            let bytes = Array(payload.utf8)
            try bytes.withUnsafeBytes { try body(InboundMessage(payload: $0, topic: topic)) }
        }
    }
}

extension PostgresTestCase {
    /// A new empty database on the test server, for one store.
    func newDatabase() throws -> PostgresTarget {
        let name = "t_" + UUID().uuidString.prefix(8).lowercased()
        try pg.psql("CREATE DATABASE \(name)")
        return try PostgresTarget.parse("postgres://\(pg.user)@127.0.0.1:\(pg.port)/\(name)", environment: [:])
    }
}
