import XCTest
import TestSupport
import Model
@testable import AuditChain
import Store
#if canImport(Glibc)
import Glibc
#endif

final class AuditChainTests: XCTestCase {
    let key = AuditKey(bytes: Array(repeating: 7, count: 32))

    func rows() -> [ChainedRow] {
        var rows = [
            ChainedRow(id: 1, chain: "czq", entry: AuditEntry(incident: 1, at: Instant(ms: 10), actor: "engine", action: .raised, note: "x")),
            ChainedRow(id: 2, chain: "wh", entry: AuditEntry(incident: 2, at: Instant(ms: 11), actor: "engine", action: .raised)),
            ChainedRow(id: 3, chain: "czq", entry: AuditEntry(incident: 1, at: Instant(ms: 12), actor: "w-li", action: .acknowledged)),
            ChainedRow(id: 4, chain: "czq", entry: AuditEntry(incident: 1, at: Instant(ms: 13), actor: "w-li", action: .resolved, note: "freed")),
            ChainedRow(id: 5, chain: "czq", entry: AuditEntry(incident: 1, at: Instant(ms: 14), actor: "s-zhao", action: .closed)),
        ]
        var heads: [String: [UInt8]] = [:]
        AuditChain.seal(&rows, heads: &heads, key: key)
        return rows
    }

    func testAnIntactTrailVerifies() {
        XCTAssertNil(AuditChain.verify(rows(), key: key))
    }

    func testAChangedNoteIsFoundAtItsRow() {
        var r = rows()
        r[3].entry.note = "nothing happened"
        XCTAssertEqual(AuditChain.verify(r, key: key), .init(kind: .changedOrOutOfOrder, chain: "czq", row: 4))
    }

    func testADeletedRowBreaksTheNextOfItsChain() {
        var r = rows()
        r.remove(at: 2)
        XCTAssertEqual(AuditChain.verify(r, key: key), .init(kind: .changedOrOutOfOrder, chain: "czq", row: 4))
    }

    func testARowInsertedOrMovedIsFound() {
        var r = rows()
        r.swapAt(2, 3)
        XCTAssertEqual(AuditChain.verify(r, key: key)?.row, 4)
        var forged = rows()
        forged.insert(ChainedRow(id: 6, chain: "czq", entry: AuditEntry(incident: 1, at: Instant(ms: 15), actor: "s-zhao", action: .closed),
                                 mac: Array(repeating: 1, count: 32)), at: 4)
        XCTAssertEqual(AuditChain.verify(forged, key: key)?.row, 6)
    }

    func testRowsWithoutTheKeyCannotBeForged() {
        var r = rows()
        r[4].entry.actor = "w-li"
        let other = AuditKey(bytes: Array(repeating: 9, count: 32))
        r[4].mac = AuditChain.mac(r[4], previous: r[3].mac, key: other)
        XCTAssertEqual(AuditChain.verify(r, key: key)?.row, 5)
        r[4].mac = []
        XCTAssertEqual(AuditChain.verify(r, key: key)?.kind, .missingMAC)
    }

    func testEveryFieldIsCovered() {
        let one = rows()[2]
        var changed = [one, one, one]
        changed[0].entry.channel = .web
        changed[1].entry.osUser = "root"
        changed[2].entry.at = Instant(ms: 99)
        for c in changed { XCTAssertNotEqual(AuditChain.mac(c, previous: rows()[0].mac, key: key), one.mac) }
    }

    func testACutOffEndIsCaughtByTheRecordedHead() {
        let r = rows()
        let heads = ["czq": AuditHead(row: 5, mac: r[4].mac), "wh": AuditHead(row: 2, mac: Array(r[1].mac.prefix(8)))]
        XCTAssertNil(AuditChain.verify(r, key: key, heads: heads))
        XCTAssertEqual(AuditChain.verify(r.dropLast(), key: key, heads: heads), .init(kind: .cutOff, chain: "czq", row: 4))
    }

    func testTheKeyFileIsCreated0600AndReadBack() throws {
        let path = try temporaryPath("cityeye-key") + "/audit.key"
        let old = umask(0o022)
        defer { umask(old) }
        let made = try AuditKey.load(path: path, create: true)
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let again = try AuditKey.load(path: path, create: false)
        var one = rows()[0]
        one.mac = []
        XCTAssertEqual(AuditChain.mac(one, previous: [], key: made), AuditChain.mac(one, previous: [], key: again))
        XCTAssertThrowsError(try AuditKey.load(path: path + ".none", create: false))
    }

    /// Engines starting at once on one store (partitions) all create the missing key: one wins, every other reads the
    /// winner's key — none fails, none reads a key half written, no temporary file is left.
    func testEnginesCreatingTheKeyAtOnceAllGetTheSameKey() throws {
        let folder = try temporaryPath("cityeye-key-race")
        let path = folder + "/audit.key"
        let results = (0..<16).map { _ in Slot() }
        DispatchQueue.concurrentPerform(iterations: results.count) { i in
            results[i].value = Result { try AuditKey.load(path: path, create: true) }
        }
        var one = rows()[0]
        one.mac = []
        let macs = try results.map { AuditChain.mac(one, previous: [], key: try XCTUnwrap($0.value).get()) }
        XCTAssertEqual(Set(macs).count, 1, "one key for all")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["audit.key"])
    }
}

private final class Slot: @unchecked Sendable {
    var value: Result<AuditKey, any Error>?
}
