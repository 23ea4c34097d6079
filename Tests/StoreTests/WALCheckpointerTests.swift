import XCTest
import TestSupport
import Model
@testable import Store
#if canImport(Glibc)
import Glibc
#endif

/// The live engine's write-ahead log is copied into the database by a thread of its own, never inside a commit.
final class WALCheckpointerTests: XCTestCase {
    var path = ""

    override func setUpWithError() throws {
        path = try temporaryPath("cityeye-checkpoint") + "/x.db"
    }

    private func size(_ p: String) -> Int64 {
        var st = stat()
        return stat(p, &st) == 0 ? Int64(st.st_size) : -1
    }

    /// 8 MiB committed in 80 transactions of 100 KiB each.
    private func write(_ store: Store, tag: String) throws {
        let value = [UInt8](repeating: 0x5a, count: 100 << 10)
        for i in 0..<80 { try store.writeTransaction { try $0.setState("\(tag)-\(i)", value) } }
    }

    func testCommitsNeverCheckpointAndTheBackgroundThreadDoes() throws {
        let store = try Store(path: path)
        defer { store.close() }
        try store.checkpointsInCommits(false)
        let dbBefore = size(path)
        try write(store, tag: "a")
        XCTAssertGreaterThan(size(path + "-wal"), 8_000_000, "the log holds every commit")
        XCTAssertEqual(size(path), dbBefore, "no commit copied the log into the database (SQLite's own checkpoint is off)")

        let problems = Problems()
        let checkpointer = try WALCheckpointer(path: path, every: 0.01) { p in
            if let p { problems.add("\(p)") }
        }
        defer { checkpointer.stop() }
        let deadline = Date().addingTimeInterval(20)
        while checkpointer.completePasses == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertGreaterThanOrEqual(size(path), 8_000_000, "the checkpoint thread copied the log into the database")
        XCTAssertEqual(problems.all, [])

        // Once copied, the log starts again from its beginning: it does not keep growing with the next commits.
        let walAfterFirst = size(path + "-wal")
        try write(store, tag: "b")
        XCTAssertLessThanOrEqual(size(path + "-wal"), walAfterFirst, "the log was reused, not extended")
        checkpointer.stop()
        checkpointer.stop()  // twice: nothing happens
        XCTAssertEqual(try store.state("b-79")?.count, 100 << 10)
    }

    func testAStoreThatDoesNotExistIsRefused() {
        XCTAssertThrowsError(try WALCheckpointer(path: path + ".missing") { _ in }) { error in
            XCTAssertTrue("\(error)".contains(".missing"), "\(error)")
        }
    }
}

private final class Problems: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ p: String) { lock.withLock { list.append(p) } }
    var all: [String] { lock.withLock { list } }
}
