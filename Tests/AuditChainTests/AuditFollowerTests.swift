import XCTest
import TestSupport
import Model
@testable import Store
@testable import AuditChain

/// Following a store's chains beside a running engine: a first pass over the whole trail on a read-only connection,
/// then passes over only the rows appended since. (AuditTrailTests' store: rows 1-6 in chains czq and wh.)
extension AuditTrailTests {
    func follower(chunk: Int = 2) -> AuditFollower {
        var f = AuditFollower(key: key)
        f.chunkRows = chunk
        return f
    }

    func appendRows(_ n: Int, incident: Int64 = 1, chain: String = "czq") throws {
        _ = try store.writeTransaction { tx in
            try tx.append((0..<n).map { AuditEntry(incident: incident, at: Instant(ms: 100 + Int64($0)), actor: "engine", action: .repeated) },
                          chains: Array(repeating: chain, count: n))
        }
    }

    func testAFollowerChecksTheWholeTrailInChunksThenOnlyTheRowsAppended() throws {
        let reader = try AuditTrailReader(path: store.path)
        defer { reader.close() }
        var f = follower()
        var seen: [Int64] = []
        let first = try f.pass(reader) { _, upTo in seen.append(upTo); return true }
        XCTAssertEqual(first, AuditReport(rows: 6, chains: 2, rowsBeforeChain: 0, firstBreak: nil))
        XCTAssertEqual(seen, [2, 4, 6], "two rows per read")
        XCTAssertEqual(f.checkedUpTo, 6)

        try appendRows(3)
        seen = []
        let second = try f.pass(reader) { _, upTo in seen.append(upTo); return true }
        XCTAssertEqual(second.rows, 9)
        XCTAssertEqual(seen, [8, 9], "only rows 7-9 are read")
        XCTAssertNil(second.firstBreak)
        // Nothing new: nothing read, still intact.
        seen = []
        XCTAssertNil(try f.pass(reader) { _, upTo in seen.append(upTo); return true }.firstBreak)
        XCTAssertEqual(seen, [])
    }

    func testAFollowerFindsARowForgedAfterItsFirstPass() throws {
        let reader = try AuditTrailReader(path: store.path)
        defer { reader.close() }
        var f = follower()
        XCTAssertNil(try f.pass(reader).firstBreak)
        // Someone who cannot read the key appends a row to chain wh and moves its head.
        try tamper("""
            INSERT INTO audit (id, chain, mac, incident, at, actor, action, note) VALUES (7, 'wh', zeroblob(32), 2, 30, 's-wu', 'closed', '');
            UPDATE audit_head SET row = 7, mac = zeroblob(32) WHERE chain = 'wh'
            """)
        XCTAssertEqual(try f.pass(reader).firstBreak, .init(kind: .changedOrOutOfOrder, chain: "wh", row: 7))
        // A break ends the following: it stays reported.
        try appendRows(1)
        XCTAssertEqual(try f.pass(reader).firstBreak?.row, 7)
    }

    func testAFollowerFindsAHeadSetBackOrRowsCutOffAfterItsFirstPass() throws {
        let reader = try AuditTrailReader(path: store.path)
        defer { reader.close() }
        var f = follower()
        XCTAssertNil(try f.pass(reader).firstBreak)
        // The czq head (row 5) set back to row 2: rows after it were "never there".
        try tamper("UPDATE audit_head SET row = 2, mac = (SELECT mac FROM audit WHERE id = 2) WHERE chain = 'czq'")
        XCTAssertEqual(try f.pass(reader).firstBreak, .init(kind: .changedOrOutOfOrder, chain: "czq", row: 2))

        var g = follower()
        try tamper("UPDATE audit_head SET row = 5, mac = (SELECT mac FROM audit WHERE id = 5) WHERE chain = 'czq'")
        XCTAssertNil(try g.pass(reader).firstBreak)
        try appendRows(2, incident: 2, chain: "wh")
        // The rows 7-8 are cut off, the head left pointing at row 8.
        try tamper("DELETE FROM audit WHERE id > 6")
        XCTAssertEqual(try g.pass(reader).firstBreak, .init(kind: .cutOff, chain: "wh", row: 6))
    }

    func testAFollowerStoppedBetweenReadsGoesOnWhereItStopped() throws {
        let reader = try AuditTrailReader(path: store.path)
        defer { reader.close() }
        var f = follower()
        _ = try f.pass(reader) { _, _ in false }
        XCTAssertEqual(f.checkedUpTo, 2)
        XCTAssertEqual(try f.pass(reader), AuditReport(rows: 6, chains: 2, rowsBeforeChain: 0, firstBreak: nil))
    }

    func testTheReaderSeesTheLastRowAndRefusesAMissingStore() throws {
        let reader = try AuditTrailReader(path: store.path)
        defer { reader.close() }
        XCTAssertEqual(try reader.bounds().lastRow, 6)
        XCTAssertThrowsError(try AuditTrailReader(path: store.path + ".none")) { e in
            XCTAssertEqual((e as? StoreError)?.code, .missing)
        }
    }
}
