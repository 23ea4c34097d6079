import XCTest
import Foundation
import TestSupport
import Model
import Store
import PostgresStore

/// `cityeye capture`'s writing out of a partitioned city's capture (`CaptureExport`): each committed line once in
/// its day's file, also when a run was interrupted at either of its two dangerous points.
final class CaptureExportTests: PostgresTestCase {
    static let day = 20_788  // 2026-12-01

    /// One row of the lines `range` (as a batch writes them).
    func lines(_ range: ClosedRange<Int>, day: Int = day) -> [CapturedLines] {
        [CapturedLines(day: day, text: Array(range.map { "{\"topic\":\"cityeye/c1/d1\",\"id\":\"e-\($0)\"}\n" }.joined().utf8))]
    }

    func fileLines(_ dir: String, _ name: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func testLinesGoToTheirDayFilesOnceEachAndLeaveTheStore() throws {
        let store = try PostgresStore(target: try newDatabase())
        defer { store.close() }
        let dir = try temporaryPath("capture-export") + "/capture"
        try store.transaction { try $0.appendCaptured(lines(1...3) + lines(4...5, day: Self.day + 1)) }
        var reading = CaptureExport(store: store, directory: dir)
        reading.chunk = 1  // a row at a time: the loop over reads, not one read
        let first = try reading.run()
        XCTAssertEqual(first.written, ["2026-12-01.jsonl": 3, "2026-12-02.jsonl": 2])
        XCTAssertEqual(fileLines(dir, "2026-12-01.jsonl"), (1...3).map { "{\"topic\":\"cityeye/c1/d1\",\"id\":\"e-\($0)\"}" })
        XCTAssertEqual(try store.capturedThrough(), 0, "no line left in the store")
        XCTAssertEqual(try store.capturedLines(after: 0, through: 100, limit: 100).count, 0)
        XCTAssertEqual(try CaptureExport(store: store, directory: dir).run().total, 0, "nothing new")
        try store.transaction { try $0.appendCaptured(lines(6...7, day: Self.day + 1)) }
        XCTAssertEqual(try CaptureExport(store: store, directory: dir).run().written, ["2026-12-02.jsonl": 2])
        XCTAssertEqual(fileLines(dir, "2026-12-02.jsonl").count, 4, "appended to the day's file")
        // A rolled-back batch leaves no line.
        XCTAssertThrowsError(try store.transaction { tx in
            try tx.appendCaptured(lines(8...9))
            throw StoreError("the batch fails")
        })
        XCTAssertEqual(try CaptureExport(store: store, directory: dir).run().total, 0)
    }

    func testARunInterruptedWhileWritingOrBeforeDeletingIsFinishedByTheNextWithEachLineOnce() throws {
        let store = try PostgresStore(target: try newDatabase())
        defer { store.close() }
        let dir = try temporaryPath("capture-interrupted") + "/capture"
        try store.transaction { try $0.appendCaptured(lines(1...2)) }
        _ = try CaptureExport(store: store, directory: dir).run()
        let name = "2026-12-01.jsonl"
        let before = fileLines(dir, name)

        // Killed while appending lines 3–4: the record says so, the file ends in half a line.
        try store.transaction { try $0.appendCaptured(lines(3...4)) }
        let size = (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as! NSNumber).intValue
        try "store \(store.path)\nthrough 1\npending 2\nfile \(name) \(size)\n".write(toFile: dir + "/.cityeye-capture", atomically: true, encoding: .utf8)
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/" + name))
        _ = try h.seekToEnd()
        try h.write(contentsOf: Array("{\"topic\":\"cityeye/c1/d1\",\"id\":\"e-3\"}\n{\"topic\":\"cityeye/c1/d".utf8))
        try h.close()
        let resumed = try CaptureExport(store: store, directory: dir).run()
        XCTAssertEqual(resumed.cutBack[name], UInt64("{\"topic\":\"cityeye/c1/d1\",\"id\":\"e-3\"}\n{\"topic\":\"cityeye/c1/d".utf8.count))
        XCTAssertEqual(resumed.written, [name: 2])
        XCTAssertEqual(fileLines(dir, name), before + (3...4).map { "{\"topic\":\"cityeye/c1/d1\",\"id\":\"e-\($0)\"}" })

        // Killed after the lines 5–6 were written and recorded, before they were deleted from the store.
        try store.transaction { try $0.appendCaptured(lines(5...6)) }
        let h2 = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/" + name))
        _ = try h2.seekToEnd()
        try h2.write(contentsOf: lines(5...6)[0].text)
        try h2.close()
        try "store \(store.path)\nthrough 3\n".write(toFile: dir + "/.cityeye-capture", atomically: true, encoding: .utf8)
        XCTAssertEqual(try CaptureExport(store: store, directory: dir).run().total, 0, "recorded as written: not written again")
        XCTAssertEqual(fileLines(dir, name).count, 6)
        XCTAssertEqual(try store.capturedLines(after: 0, through: 100, limit: 100).count, 0, "and deleted from the store")
    }

    func testAFolderOfAnotherStoresCaptureOrAnUnreadableRecordIsRefused() throws {
        let store = try PostgresStore(target: try newDatabase())
        defer { store.close() }
        let dir = try temporaryPath("capture-other")
        try "store postgres://someone@elsewhere:5432/city\nthrough 10\n".write(toFile: dir + "/.cityeye-capture", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CaptureExport(store: store, directory: dir).run()) {
            XCTAssertTrue("\($0)".contains("holds the capture of another store"), "\($0)")
        }
        try "garbage\n".write(toFile: dir + "/.cityeye-capture", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CaptureExport(store: store, directory: dir).run()) {
            XCTAssertTrue("\($0)".contains("unreadable line"), "\($0)")
        }
        // A second run while one writes the folder.
        let busy = try temporaryPath("capture-busy")
        let held = open(busy + "/.cityeye-capture.lock", O_RDWR | O_CREAT, 0o640)
        defer { close(held) }
        XCTAssertEqual(flock(held, LOCK_EX | LOCK_NB), 0)
        XCTAssertThrowsError(try CaptureExport(store: store, directory: busy).run()) {
            XCTAssertTrue("\($0)".contains("another `cityeye capture` is writing"), "\($0)")
        }
    }
}
