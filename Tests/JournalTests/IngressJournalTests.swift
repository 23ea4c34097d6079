import XCTest
import TestSupport
import Model
@testable import Journal
#if canImport(Glibc)
import Glibc
#endif

final class IngressJournalTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-journal") + "/journal"
    }

    func append(_ j: IngressJournal, _ text: String, topic: String = "cityeye/c/d", at ms: Int64 = 1, retained: Bool = false) throws -> JournalPosition {
        var t = text
        return try t.withUTF8 { try j.append(topic: topic, payload: UnsafeRawBufferPointer($0), arrivedAt: Instant(ms: ms), retained: retained) }
    }

    func all(_ j: IngressJournal, after p: JournalPosition = .start) throws -> [JournalRecord] {
        var out: [JournalRecord] = []
        try j.records(after: p) { out.append($0) }
        return out
    }

    func testRecordsComeBackInOrderAfterAPosition() throws {
        let j = try IngressJournal(directory: dir, sync: .never)
        let p1 = try append(j, "{\"a\":1}", at: 10)
        let p2 = try append(j, "", topic: "cityeye/长征桥/d", at: 20, retained: true)
        let p3 = try append(j, String(repeating: "x", count: 300_000), at: 30)
        XCTAssertLessThan(p1, p2); XCTAssertLessThan(p2, p3)
        XCTAssertEqual(j.end, p3)
        let r = try all(j)
        XCTAssertEqual(r.map { String(decoding: $0.payload.prefix(7), as: UTF8.self) }, ["{\"a\":1}", "", "xxxxxxx"])
        XCTAssertEqual(r.map(\.topic), ["cityeye/c/d", "cityeye/长征桥/d", "cityeye/c/d"])
        XCTAssertEqual(r.map(\.arrivedAt.ms), [10, 20, 30])
        XCTAssertEqual(r.map(\.retained), [false, true, false])
        XCTAssertEqual(r.map(\.end), [p1, p2, p3])
        XCTAssertEqual(r[2].payload.count, 300_000)
        XCTAssertEqual(try all(j, after: p1).map(\.end), [p2, p3], "only what follows the committed position")
        XCTAssertEqual(try all(j, after: p3).count, 0)
    }

    func testReopenKeepsRecordsAndCutsATornTail() throws {
        var j: IngressJournal? = try IngressJournal(directory: dir, sync: .always)
        let p1 = try append(j!, "one")
        let p2 = try append(j!, "two")
        let file = j!.path(of: p2.segment)
        j = nil
        // A crash inside a write: half a record at the end.
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: file))
        h.seekToEndOfFile()
        h.write(Data([40, 0, 0, 0, 1, 2, 3]))
        h.closeFile()
        let again = try IngressJournal(directory: dir, sync: .always)
        XCTAssertEqual(again.end, p2, "the torn record is cut off")
        let p3 = try append(again, "three")
        XCTAssertEqual(try all(again).map { String(decoding: $0.payload, as: UTF8.self) }, ["one", "two", "three"])
        XCTAssertEqual(try all(again, after: p1).map(\.end), [p2, p3])
    }

    func testACorruptRecordEndsTheReadingButNothingBeforeIt() throws {
        let j = try IngressJournal(directory: dir, sync: .never)
        let p1 = try append(j, "good")
        _ = try append(j, "flipped")
        let file = j.path(of: p1.segment)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try all(j).map { String(decoding: $0.payload, as: UTF8.self) }, ["good"])
    }

    func testSegmentsRollOverAndCommittedOnesAreReleased() throws {
        let j = try IngressJournal(directory: dir, segmentBytes: 100, sync: .never)
        var ends: [JournalPosition] = []
        for i in 0..<10 { ends.append(try append(j, "message number \(i) with some bytes")) }
        XCTAssertGreaterThan(ends.last!.segment, 3, "small segments: several files")
        XCTAssertEqual(try all(j).count, 10)
        XCTAssertEqual(try all(j, after: ends[4]).count, 5, "reading crosses segment files")
        try j.release(upTo: ends[4])
        XCTAssertEqual(try IngressJournal.segments(in: dir).first, ends[4].segment, "segments before the committed one are gone")
        XCTAssertEqual(try all(j, after: ends[4]).count, 5, "nothing after the committed position is lost")
        let reopened = try IngressJournal(directory: dir, segmentBytes: 100, sync: .never)
        XCTAssertEqual(reopened.end, ends.last!)
    }

    func testFilesAreNotWorldReadable() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let j = try IngressJournal(directory: dir, sync: .never)
        let p = try append(j, "x")
        var st = stat()
        XCTAssertEqual(stat(j.path(of: p.segment), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o640)
        XCTAssertEqual(stat(dir, &st), 0)
        XCTAssertEqual(st.st_mode & 0o007, 0, "the folder is not open to others")
    }

    func testPositionsReadBackFromText() {
        let p = JournalPosition(segment: 12, offset: 3456)
        XCTAssertEqual(JournalPosition(p.description), p)
        XCTAssertNil(JournalPosition("12"))
        XCTAssertNil(JournalPosition("0:5"))
        XCTAssertNil(JournalPosition("a:b"))
    }
}

extension IngressJournalTests {
    func testAJournalBehindTheStoresPositionMovesPastItSoNothingNewIsSkipped() throws {
        let j = try IngressJournal(directory: dir)
        _ = try append(j, "old")
        let committed = JournalPosition(segment: 7, offset: 500)
        try j.advance(past: committed)
        let p = try append(j, "new")
        XCTAssertGreaterThan(p, committed)
        XCTAssertEqual(try all(j, after: committed).map { String(decoding: $0.payload, as: UTF8.self) }, ["new"])
        let reopened = try IngressJournal(directory: dir)
        XCTAssertEqual(reopened.end, p, "a reopened journal goes on in the newest segment")
    }
}
