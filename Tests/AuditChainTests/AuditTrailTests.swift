import XCTest
import TestSupport
import Model
@testable import Store
@testable import AuditChain

/// The chain on a real SQLite store: rows appended through `WriteTransaction` with the key's sealer, then changed,
/// deleted, inserted or cut off with raw SQL after dropping the append-only triggers, as someone who can write the
/// store file (but not read the key) could.
final class AuditTrailTests: XCTestCase {
    let key = AuditKey(bytes: Array(repeating: 3, count: 32))
    var store: Store!

    static func incident(_ id: Int64, community: String) -> Incident {
        Incident(id: id, rule: "elevator.alarm", scenario: "elevator", severity: .critical, key: "k\(id)", device: "d",
                 subject: "s", community: community, grid: "g1", firstSeen: Instant(ms: 1), lastSeen: Instant(ms: 2),
                 count: 1, condition: .active, status: .dispatched, assignee: "w-li", escalated: false, overdue: false,
                 ackDue: Instant(ms: 300_001), resolveDue: Instant(ms: 3_600_001))
    }

    /// Incident 1 in czq, 2 in wh; rows 1-2 (czq), 3-4 (wh), 5 (czq, a person's), 6 (wh).
    override func setUpWithError() throws {
        store = try Store(path: try temporaryPath("audit-trail") + "/s.db")
        store.setAuditSealer(KeySealer(key: key))
        _ = try store.writeTransaction { tx in
            try tx.upsert([Self.incident(1, community: "czq"), Self.incident(2, community: "wh")])
            try tx.append([AuditEntry(incident: 1, at: Instant(ms: 10), actor: "engine", action: .raised),
                           AuditEntry(incident: 1, at: Instant(ms: 10), actor: "engine", action: .dispatched),
                           AuditEntry(incident: 2, at: Instant(ms: 11), actor: "engine", action: .raised),
                           AuditEntry(incident: 2, at: Instant(ms: 11), actor: "engine", action: .dispatched)],
                          chains: ["czq", "czq", "wh", "wh"])
        }
        _ = try store.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: Instant(ms: 20), actor: "w-li", action: .resolved, note: "freed",
                                      channel: .cli, osUser: "li")], chains: ["czq"])
            try tx.append([AuditEntry(incident: 2, at: Instant(ms: 21), actor: "engine", action: .repeated)])  // chain read from the incident
        }
    }

    func verify(logged: [String: AuditHead] = [:]) throws -> AuditReport {
        try AuditTrail.verify(store: store, key: key, loggedHeads: logged)
    }

    func tamper(_ sql: String) throws {
        try store.conn.exec("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; " + sql)
    }

    func testAnIntactTrailHasOneChainPerCommunity() throws {
        XCTAssertEqual(try verify(), AuditReport(rows: 6, chains: 2, rowsBeforeChain: 0, firstBreak: nil))
        var chains: [Int64: String] = [:]
        try store.forEachAuditRow { chains[$0.id] = $0.chain; XCTAssertEqual($0.mac.count, 32); return true }
        XCTAssertEqual(chains, [1: "czq", 2: "czq", 3: "wh", 4: "wh", 5: "czq", 6: "wh"])
        XCTAssertEqual(try store.auditHeads().mapValues(\.row), ["czq": 5, "wh": 6])
        XCTAssertEqual(try verify().summary, "audit intact: 6 rows in 2 chains (rows before the chain began: 0)")
    }

    func testAChangedNoteIsNamedAtItsRow() throws {
        try tamper("UPDATE audit SET note = 'nothing happened' WHERE id = 5")
        XCTAssertEqual(try verify().firstBreak, .init(kind: .changedOrOutOfOrder, chain: "czq", row: 5))
        XCTAssertTrue(try verify().summary.hasPrefix("AUDIT CHAIN BROKEN: chain czq: audit row 5 does not match its MAC"))
    }

    func testAChangedChannelOrOperatingSystemUserIsFound() throws {
        try tamper("UPDATE audit SET os_user = 'zhao' WHERE id = 5")
        XCTAssertEqual(try verify().firstBreak?.row, 5)
        try tamper("UPDATE audit SET os_user = 'li', channel = 'web' WHERE id = 5")
        XCTAssertEqual(try verify().firstBreak?.row, 5)
    }

    func testADeletedRowIsNamedByTheNextRowOfItsChain() throws {
        try tamper("DELETE FROM audit WHERE id = 2")
        XCTAssertEqual(try verify().firstBreak, .init(kind: .changedOrOutOfOrder, chain: "czq", row: 5))
    }

    func testAnInsertedRowIsFound() throws {
        // A forged row with a MAC made without the key, between the rows of the wh chain…
        try tamper("INSERT INTO audit (id, chain, mac, incident, at, actor, action, note) VALUES (7, 'wh', zeroblob(32), 2, 30, 's-wu', 'closed', '')")
        XCTAssertEqual(try verify().firstBreak, .init(kind: .changedOrOutOfOrder, chain: "wh", row: 7))
        // …and one dressed as a row from before the chain began, after it began.
        try tamper("DELETE FROM audit WHERE id = 7; INSERT INTO audit (id, incident, at, actor, action, note) VALUES (8, 2, 30, 's-wu', 'closed', '')")
        XCTAssertEqual(try verify().firstBreak, .init(kind: .missingMAC, chain: "", row: 8))
    }

    func testACutOffTailIsCaughtByTheStoredHeadAndByTheLoggedOne() throws {
        let logged = try AuditHeadsLine.parse("2026-11-24T08:00:00Z " + AuditHeadsLine.format(try store.auditHeads())!, file: "engine.log")
        XCTAssertTrue(try verify(logged: logged).intact)
        try tamper("DELETE FROM audit WHERE id = 6")
        XCTAssertEqual(try verify().firstBreak, .init(kind: .cutOff, chain: "wh", row: 4))
        // Someone who also moves the store's head back is still caught by the head the engine logged.
        try tamper("UPDATE audit_head SET row = 4, mac = (SELECT mac FROM audit WHERE id = 4) WHERE chain = 'wh'")
        XCTAssertTrue(try verify().intact)
        XCTAssertEqual(try verify(logged: logged).firstBreak, .init(kind: .cutOff, chain: "wh", row: 4))
    }

    func testABreakInOneCommunityNamesThatChain() throws {
        try tamper("UPDATE audit SET actor = 's-wu' WHERE id = 4")
        let b = try verify().firstBreak
        XCTAssertEqual(b?.chain, "wh")
        XCTAssertEqual(b?.row, 4)
    }

    func testRowsWithoutTheKeyHaveNoMACAndAreReported() throws {
        store.setAuditSealer(nil)
        _ = try store.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: Instant(ms: 40), actor: "s-zhao", action: .closed, channel: .cli)], chains: ["czq"])
        }
        XCTAssertEqual(try verify().firstBreak, .init(kind: .missingMAC, chain: "czq", row: 7))
        XCTAssertEqual(try store.auditHeads()["czq"]?.row, 5, "an unsealed row does not move its chain's head")
    }

    func testRowsFromBeforeTheChainAreCountedNotBroken() throws {
        let s = try Store(path: try temporaryPath("audit-old") + "/s.db")
        try s.conn.exec("INSERT INTO audit (id, incident, at, actor, action, note) VALUES (1, 1, 5, 'engine', 'raised', ''), (2, 1, 6, 'engine', 'dispatched', '')")
        s.setAuditSealer(KeySealer(key: key))
        _ = try s.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: Instant(ms: 7), actor: "engine", action: .repeated)], chains: ["czq"])
        }
        XCTAssertEqual(try AuditTrail.verify(store: s, key: key), AuditReport(rows: 1, chains: 1, rowsBeforeChain: 2, firstBreak: nil))
    }

    func testTheCommittedHeadsAreHandedOverOnce() throws {
        _ = store.takeCommittedAuditHeads()
        _ = try store.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 2, at: Instant(ms: 50), actor: "engine", action: .repeated)], chains: ["wh"])
        }
        let heads = store.takeCommittedAuditHeads()
        XCTAssertEqual(heads.mapValues(\.row), ["wh": 7])
        XCTAssertEqual(store.takeCommittedAuditHeads(), [:])
        let line = AuditHeadsLine.format(heads)!
        XCTAssertTrue(line.hasPrefix("audit heads wh=7:"), line)
        XCTAssertEqual(line.count, "audit heads wh=7:".count + 16)
    }

    func testAMalformedHeadsLineNamesFileAndLine() {
        XCTAssertThrowsError(try AuditHeadsLine.parse("x\nfoo audit heads czq=12:zz\n", file: "e.log")) {
            XCTAssertEqual("\($0)", "e.log:2: `czq=12:zz` is not a chain head; the engine logs them as `audit heads <chain>=<row>:<hex mac>`")
        }
    }

    /// 100k rows sealed and written in one transaction: what the chain adds to a replay (printed, not asserted).
    func testSealingCostOf100kRows() throws {
        let rows = (0..<100_000).map { AuditEntry(incident: Int64($0 % 2 + 1), at: Instant(ms: Int64($0)), actor: "engine", action: .repeated, note: "count \($0)") }
        let chains = rows.map { $0.incident == 1 ? "czq" : "wh" }
        func time(_ sealer: (any AuditSealer)?) throws -> Double {
            store.setAuditSealer(sealer)
            let t0 = Date()
            _ = try store.writeTransaction { try $0.append(rows, chains: chains) }
            return Date().timeIntervalSince(t0)
        }
        let plain = try time(nil)
        let sealed = try time(KeySealer(key: key))
        print("audit append of 100k rows: \(String(format: "%.3f", plain)) s without MAC, \(String(format: "%.3f", sealed)) s sealed")
        XCTAssertEqual(try store.auditHeads().mapValues(\.row), ["czq": 200_005, "wh": 200_006])
    }
}
