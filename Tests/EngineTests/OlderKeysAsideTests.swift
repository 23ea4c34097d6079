import XCTest
import Foundation
import TestSupport
import Model
import Store
import Engine

/// The dedup window's older processed ids loaded aside (`Pipeline.init`'s `loadsOlderKeysAside`), on a real SQLite
/// file read through a second connection, and what happens when that read fails: nothing is committed.
final class OlderKeysAsideTests: XCTestCase {
    /// A SQLite store whose aside reader is a second connection to the same file, or one that fails.
    final class AsideStore: EngineStore, @unchecked Sendable {
        let store: Store
        let fails: Bool
        init(_ store: Store, fails: Bool) { self.store = store; self.fails = fails }

        func asideKeyReader() -> (@Sendable (Instant, Instant, Int) throws -> [UInt8])? {
            let (path, fails) = (store.path, fails)
            return { since, before, format in
                if fails { throw StoreError("the server went away", code: .io) }
                let second = try Store(path: path, create: false)
                defer { second.close() }
                return try second.processedKeys(since: since, before: before, format: format)
            }
        }
        var path: String { store.path }
        var writeSettings: WriteSettings { store.writeSettings }
        func close() { store.close() }
        func incidents(_ filter: IncidentFilter) throws -> [Incident] { try store.incidents(filter) }
        func scenarios() throws -> [String] { try store.scenarios() }
        func incident(id: Int64) throws -> Incident? { try store.incident(id: id) }
        func audit(of incident: Int64) throws -> [AuditEntry] { try store.audit(of: incident) }
        func allAudit() throws -> [AuditEntry] { try store.allAudit() }
        func events(of incident: Int64) throws -> [IncidentEvent] { try store.events(of: incident) }
        func allIncidentEvents() throws -> [IncidentEvent] { try store.allIncidentEvents() }
        func deadLetters(limit: Int?) throws -> [DeadLetter] { try store.deadLetters(limit: limit) }
        func deadLetterCountsByTopic() throws -> [DeadLetterCount] { try store.deadLetterCountsByTopic() }
        func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int) { try store.deadLetterTotal() }
        func state(_ name: String) throws -> [UInt8]? { try store.state(name) }
        func lastAuditRow() throws -> Int64 { try store.lastAuditRow() }
        func auditHeads() throws -> [String: AuditHead] { try store.auditHeads() }
        func forEachAuditRow(_ body: (AuditRow) throws -> Bool) throws { try store.forEachAuditRow(body) }
        func notClosedIncidents() throws -> [Incident] { try store.notClosedIncidents() }
        func maxIncidentID() throws -> Int64 { try store.maxIncidentID() }
        func latestProcessedAt() throws -> Instant? { try store.latestProcessedAt() }
        func processedKeys(since: Instant, before: Instant?, format: Int) throws -> [UInt8] {
            try store.processedKeys(since: since, before: before, format: format)
        }
        func ruleKeys() throws -> [SavedRuleKey] { try store.ruleKeys() }
        func transaction<T>(_ body: (any StoreTransaction) throws -> T) throws -> T { try store.transaction(body) }
        func bulkLoading<T>(_ body: () throws -> T) throws -> T { try store.bulkLoading(body) }
    }

    let t0 = Instant(ms: 1_767_000_000_000)
    var dir = ""

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-aside")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
    }

    func open(aside: Bool, fails: Bool = false) throws -> Pipeline {
        var setup = EngineSetup(registry: dir + "/registry.yaml", rules: Repo.scenarios.path, store: dir + "/store.db")
        if aside {
            setup.openStore = { s in AsideStore(try Store(path: s.store), fails: fails) }
            setup.loadsOlderKeysAside = true
        }
        return try setup.open()
    }

    func alarm(_ id: String, hour: Int64) -> Lines {
        Lines(lines: ["{\"id\":\"\(id)\",\"ts\":\"\(RFC3339.format(t0 + hour * Durations.hour))\",\"device\":\"czq-smoke-01\",\"type\":\"smoke.alarm\",\"data\":{}}"],
              topic: "cityeye/changzhengqiao/czq-smoke-01")
    }

    func countedAlarms() throws -> Int64 {
        let s = try Store(path: dir + "/store.db", create: false)
        defer { s.close() }
        return try s.incidents().reduce(0) { $0 + $1.count }
    }

    /// 20 hours of alarms, one batch an hour, committed by a pipeline that loads everything at once.
    func fillTwentyHours() throws {
        let first = try open(aside: false)
        for h in Int64(0)..<20 { try first.process(batch: alarm("a-\(h)", hour: h), now: t0 + h * Durations.hour + 1, saveRuleState: true) }
        first.store.close()
    }

    func testRedeliveriesOldAndRecentAreKnownAndANewOldEventIsCounted() throws {
        try fillTwentyHours()
        let again = try open(aside: true)
        defer { again.store.close() }
        let now = t0 + 20 * Durations.hour
        // A batch of recent and old redeliveries and one new old event, in one commit.
        let batch = [alarm("a-19", hour: 19), alarm("a-18", hour: 18), alarm("a-2", hour: 2), alarm("new-5", hour: 5)]
        try again.process(batch: Lines(lines: batch.flatMap(\.lines), topic: "cityeye/changzhengqiao/czq-smoke-01"),
                          now: now, saveRuleState: true)
        XCTAssertEqual(again.counts.duplicates, 3)
        XCTAssertEqual(again.counts.accepted, 1)
        XCTAssertFalse(again.loadingOlderKeys)
        XCTAssertEqual(try countedAlarms(), 21)
    }

    func testOlderIdsThatCannotBeReadCommitNothingAndSaySo() throws {
        try fillTwentyHours()
        let again = try open(aside: true, fails: true)
        defer { again.store.close() }
        XCTAssertThrowsError(try again.process(batch: alarm("a-0", hour: 0), now: t0 + 20 * Durations.hour, saveRuleState: true)) {
            XCTAssertTrue("\($0)".contains("cannot read the older processed ids of the dedup window: the server went away"), "\($0)")
        }
        XCTAssertEqual(try countedAlarms(), 20, "the redelivery was not counted a second time")
        // A new pipeline on the same store (the partition taken again) reads them and knows the redelivery.
        let third = try open(aside: true)
        defer { third.store.close() }
        try third.process(batch: alarm("a-0", hour: 0), now: t0 + 20 * Durations.hour, saveRuleState: true)
        XCTAssertEqual(third.counts.duplicates, 1)
        XCTAssertEqual(try countedAlarms(), 20)
    }
}
