import XCTest
import Foundation
import TestSupport
import Model
@testable import Store

final class StoreTests: XCTestCase {
    func path() throws -> String { try temporaryPath("store") + "/s.db" }

    static func incident(_ id: Int64, status: IncidentStatus = .dispatched, assignee: String = "w-li") -> Incident {
        Incident(id: id, rule: "elevator.alarm", scenario: "elevator", severity: .critical, key: "k\(id)", device: "d",
                 subject: "s", community: "czq", grid: "g1", firstSeen: Instant(ms: 1), lastSeen: Instant(ms: 2), count: 3,
                 condition: .cleared, status: status, assignee: assignee, escalated: true, overdue: false,
                 ackDue: Instant(ms: 300_001), resolveDue: Instant(ms: 3_600_001))
    }

    func testRoundTripFiltersAndReopen() throws {
        let p = try path()
        var s: Store? = try Store(path: p)
        try s!.writeTransaction { tx in
            try tx.upsert([Self.incident(1), Self.incident(2, status: .resolved, assignee: "w-wang"), Self.incident(3, status: .closed)])
            try tx.upsert([Self.incident(1, status: .acknowledged)])
        }
        XCTAssertEqual(try s!.incident(id: 1), Self.incident(1, status: .acknowledged))
        XCTAssertEqual(try s!.incidents(IncidentFilter(assignee: "w-wang")).map(\.id), [2])
        XCTAssertEqual(try s!.incidents(IncidentFilter(openOnly: true)).map(\.id), [1])
        XCTAssertEqual(try s!.notClosedIncidents().map(\.id), [1, 2])
        XCTAssertEqual(try s!.maxIncidentID(), 3)
        s!.close()
        s = try Store(path: p, create: false)  // migrations are idempotent
        XCTAssertEqual(try s!.incidents().count, 3)
    }

    /// A repeat (count, last seen) of an incident leaves its five indexes alone; a status change updates them; both
    /// read back exactly, and the indexes stay consistent with the table.
    func testARepeatWritesOnlyTheIncidentsPageAndAStatusChangeItsIndexesToo() throws {
        let s = try Store(path: try path())
        s.setCheckpointPages(1_000_000)
        let ids = Array(Int64(1)...3_000)
        try s.writeTransaction { tx in try tx.upsert(ids.map { Self.incident($0) }) }
        let spread = stride(from: 7, to: 3_000, by: 150).map { ids[$0] }   // 20 incidents far apart
        var repeated = spread.map { Self.incident($0) }
        for k in repeated.indices { repeated[k].count += 1; repeated[k].lastSeen = Instant(ms: 99) }
        let before = s.walFrames
        try s.writeTransaction { tx in try tx.upsert(repeated) }
        let repeatFrames = s.walFrames - before
        var moved = repeated
        for k in moved.indices { moved[k].status = .acknowledged; moved[k].assignee = "w-wang" }
        try s.writeTransaction { tx in try tx.upsert(moved) }
        let statusFrames = s.walFrames - before - repeatFrames
        XCTAssertLessThanOrEqual(repeatFrames, spread.count + 3, "one table page per repeated incident, few more")
        XCTAssertGreaterThan(statusFrames, repeatFrames + 20, "a status change moves index entries too")
        XCTAssertEqual(try s.incident(id: spread[0])?.status, .acknowledged)
        XCTAssertEqual(try s.incident(id: spread[0])?.count, 4, "the repeat's count survived the status change")
        XCTAssertEqual(try s.incidents(IncidentFilter(assignee: "w-wang")).map(\.id), spread)
        try s.writeTransaction { tx in try tx.upsert([Self.incident(ids[1], status: .dispatched)]) }
        XCTAssertEqual(try s.incident(id: ids[1]), Self.incident(ids[1]))
        let check = try s.read { () throws -> String in
            let st = try s.conn.statement("PRAGMA integrity_check")
            _ = try st.step()
            return st.text(0)
        }
        XCTAssertEqual(check, "ok")
    }

    func testAuditIsAppendOnly() throws {
        let s = try Store(path: try path())
        _ = try s.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: Instant(ms: 5), actor: "engine", action: .raised, note: "x"),
                           AuditEntry(incident: 1, at: Instant(ms: 6), actor: "w-li", action: .acknowledged)])
        }
        XCTAssertEqual(try s.audit(of: 1).map(\.action), [.raised, .acknowledged])
        XCTAssertThrowsError(try s.writeTransaction { tx in try tx.conn.exec("UPDATE audit SET note = 'y'") })
        XCTAssertThrowsError(try s.writeTransaction { tx in try tx.conn.exec("DELETE FROM audit") })
        XCTAssertEqual(try s.allAudit().count, 2)
        let changes = try s.writeTransaction { try $0.peopleChanges(afterAuditRow: 0) }
        XCTAssertEqual(changes.lastRow, 2)
    }

    /// Audit rows go in 64 to a statement, the rest one by one: every row, in order, whatever the count.
    func testManyAuditRowsKeepTheirOrder() throws {
        let s = try Store(path: try path())
        for count in [1, 63, 64, 65, 200] {
            let before = try s.allAudit().count
            let rows: [AuditEntry] = (0..<count).map { (i: Int) -> AuditEntry in
                let actor = i % 2 == 0 ? "engine" : "w-li"
                return AuditEntry(incident: Int64(i % 7), at: Instant(ms: Int64(i)), actor: actor, action: .repeated, note: "n\(i)")
            }
            let last = try s.writeTransaction { try $0.append(rows) }
            XCTAssertEqual(last, Int64(before + count))
            XCTAssertEqual(Array(try s.allAudit().suffix(count)), rows, "\(count) rows")
        }
    }

    func testDeadLettersProcessedKeysStateAndRollback() throws {
        let s = try Store(path: try path())
        try s.writeTransaction { tx in
            try tx.append([DeadLetter(topic: "t", payload: Array(repeating: 7, count: 70_000), reason: .badJSON, detail: "d", receivedAt: Instant(ms: 9))])
            try tx.appendProcessed(keys: [1, 2, 3, 4], at: Instant(ms: 100), format: 2)
            try tx.appendProcessed(keys: [5, 6], at: Instant(ms: 200), format: 2)
            try tx.appendProcessed(keys: [7, 8], at: Instant(ms: 200), format: 3)
            // A batch written before key formats were recorded reads as format 1.
            try tx.conn.exec("INSERT INTO processed_batch (at, keys) VALUES (300, x'090a')")
            try tx.setState("rules", [1, 2, 3])
        }
        XCTAssertEqual(try s.deadLetters().first?.payload.count, 64 * 1024)
        XCTAssertEqual(try s.deadLetterCounts(), [.badJSON: 1])
        XCTAssertEqual(try s.processedKeys(since: Instant(ms: 0), format: 2), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try s.processedKeys(since: Instant(ms: 0), format: 3), [7, 8])
        XCTAssertEqual(try s.processedKeys(since: Instant(ms: 0), format: 1), [9, 10])
        try s.writeTransaction { try $0.pruneProcessed(before: Instant(ms: 150)) }
        XCTAssertEqual(try s.processedKeys(since: Instant(ms: 0), format: 2), [5, 6])
        XCTAssertEqual(try s.state("rules"), [1, 2, 3])
        struct Boom: Error {}
        XCTAssertThrowsError(try s.writeTransaction { tx in try tx.upsert([Self.incident(9)]); throw Boom() })
        XCTAssertNil(try s.incident(id: 9), "rolled back")
    }

    func testMissingAndForeignFilesGiveClearErrors() throws {
        XCTAssertThrowsError(try Store(path: "/tmp/none-\(UUID().uuidString).db", create: false)) { XCTAssertTrue("\($0)".contains("no store")) }
        XCTAssertThrowsError(try Store(path: "/nonexistent-dir/x.db")) { XCTAssertTrue("\($0)".contains("does not exist")) }
        let p = try path()
        try "this is not sqlite, just text that is long enough to look like a header......".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Store(path: p)) { XCTAssertTrue("\($0)".contains("not a City Eye store"), "\($0)") }
    }

    func testTwoConnectionsWriteConcurrentlyWithoutLockedErrors() throws {
        let p = try path()
        _ = try Store(path: p)
        let group = DispatchGroup()
        final class Errors: @unchecked Sendable { let lock = NSLock(); var list: [String] = [] }
        let errors = Errors()
        for worker in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let s = try Store(path: p)
                    for n in 0..<300 {
                        try s.writeTransaction { tx in
                            try tx.upsert([StoreTests.incident(Int64(worker * 1000 + n))])
                            try tx.append([AuditEntry(incident: 1, at: Instant(ms: Int64(n)), actor: worker == 0 ? "engine" : "w-li", action: .repeated)])
                        }
                        _ = try s.incidents(IncidentFilter(openOnly: true))
                    }
                } catch { errors.lock.lock(); errors.list.append("\(error)"); errors.lock.unlock() }
            }
        }
        group.wait()
        XCTAssertEqual(errors.list, [])
        XCTAssertEqual(try Store(path: p).allAudit().count, 600)
    }
}

/// The dead-letter budget's tables (migration v5): counts per (reason, topic), payload totals kept by triggers, and a
/// store from before the budget upgraded with its dead letters counted.
final class DeadLetterTableTests: XCTestCase {
    func letter(_ payload: String, at ms: Int64, topic: String = "t") -> DeadLetter {
        DeadLetter(topic: topic, payload: Array(payload.utf8), reason: .badJSON, detail: "", receivedAt: Instant(ms: ms))
    }

    func testCountsAddUpAndTotalsFollowEveryInsertAndDelete() throws {
        let s = try Store(path: try temporaryPath("store") + "/s.db")
        try s.writeTransaction { tx in
            try tx.append([letter("abc", at: 1), letter("defgh", at: 2)])
            try tx.add([DeadLetterCount(reason: .badJSON, topic: "t", count: 2, firstAt: Instant(ms: 1), lastAt: Instant(ms: 2))])
            try tx.add([DeadLetterCount(reason: .badJSON, topic: "t", count: 5, firstAt: Instant(ms: 0), lastAt: Instant(ms: 1))])
        }
        XCTAssertEqual(try s.deadLetterTotal().payloadBytes, 8)
        XCTAssertEqual(try s.deadLetterTotal().rows, 2)
        XCTAssertEqual(try s.deadLetterCountsByTopic(),
                       [DeadLetterCount(reason: .badJSON, topic: "t", count: 7, firstAt: Instant(ms: 0), lastAt: Instant(ms: 2))])
        // A row deleted by hand (an operator's sqlite3) is accounted for.
        try s.writeTransaction { try $0.conn.exec("DELETE FROM dead_letter WHERE received_at = 1") }
        XCTAssertEqual(try s.deadLetterTotal().payloadBytes, 5)
        XCTAssertEqual(try s.deadLetterTotal().rows, 1)
    }

    func testAStoreFromBeforeTheBudgetIsUpgradedWithItsDeadLettersCounted() throws {
        let p = try temporaryPath("store") + "/old.db"
        var s = try Store(path: p)
        let long = String(repeating: "长", count: 200)   // 600 bytes
        try s.writeTransaction { tx in
            try tx.append([letter("abc", at: 5), letter("defgh", at: 9), letter("x", at: 7, topic: long)])
            // Back to schema 5: as a store written by the version before the budget.
            try tx.conn.exec("""
                DROP TRIGGER dead_letter_total_insert; DROP TRIGGER dead_letter_total_delete; DROP TABLE dead_letter_total;
                DROP INDEX dead_letter_received_at; DROP TABLE dead_letter_count;
                DROP TABLE audit_head; ALTER TABLE audit DROP COLUMN mac; ALTER TABLE audit DROP COLUMN chain;
                DROP TABLE webhook_outbox; DROP TABLE webhook_target; DROP TABLE incident_event;
                DROP INDEX incident_community_status; DROP INDEX incident_community_first_seen;
                DELETE FROM schema_migration WHERE version >= 6;
                """)
        }
        s.close()
        s = try Store(path: p)
        XCTAssertEqual(try s.deadLetterTotal().payloadBytes, 9)
        XCTAssertEqual(try s.deadLetterTotal().rows, 3)
        XCTAssertEqual(try s.deadLetterCountsByTopic(), [
            DeadLetterCount(reason: .badJSON, topic: "t", count: 2, firstAt: Instant(ms: 5), lastAt: Instant(ms: 9)),
            // Under its first 255 bytes: 256 would end inside a character.
            DeadLetterCount(reason: .badJSON, topic: DeadLetterCount.cut(long), count: 1, firstAt: Instant(ms: 7), lastAt: Instant(ms: 7)),
        ])
        XCTAssertEqual(DeadLetterCount.cut(long).utf8.count, 255)
    }

    func testTheAgeRetentionDeletesOnlyWhatIsOlderAndTheSizeRetentionTheOldest() throws {
        let s = try Store(path: try temporaryPath("store") + "/s.db")
        try s.writeTransaction { try $0.append([letter("aaaa", at: 30), letter("bbbb", at: 10), letter("cccc", at: 20), letter("dddd", at: 40)]) }
        let limit = DeadLetterPruneLimit(rows: 100, bytes: 1 << 20)
        var pass = try s.writeTransaction { try $0.pruneDeadLetters(receivedBefore: Instant(ms: 25), maxPayloadBytes: 1_000, limit: limit) }
        XCTAssertEqual(pass.deleted, 2)
        XCTAssertTrue(pass.complete)
        XCTAssertEqual(try s.deadLetters().map(\.receivedAt.ms), [30, 40])
        pass = try s.writeTransaction { try $0.pruneDeadLetters(receivedBefore: Instant(ms: 0), maxPayloadBytes: 4, limit: limit) }
        XCTAssertEqual(pass.deleted, 1)
        XCTAssertEqual(try s.deadLetters().map(\.receivedAt.ms), [40], "the oldest kept goes first")
        XCTAssertEqual(try s.deadLetterTotal().payloadBytes, 4)
    }
}
