import XCTest
import TestSupport
@testable import Store

final class WALSyncerTests: XCTestCase {
    func testPassesAreCountedAndAnUnreadableLogIsReported() throws {
        let dir = try temporaryPath("cityeye-walsync")
        let store = try Store(path: dir + "/x.db")
        defer { store.close() }
        try store.writeTransaction { try $0.setState("a", [1, 2, 3]) }
        let reports = Reports()
        let syncer = WALSyncer(store: dir + "/x.db", every: 0.01) { reports.add($0) }
        try waitUntil("two passes") { syncer.syncedPasses >= 2 }
        syncer.stop()
        let passes = syncer.syncedPasses
        XCTAssertEqual(reports.problems, [])
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(syncer.syncedPasses, passes, "no pass after stop")
        syncer.stop()  // twice: nothing happens

        // A log that cannot be opened (here: a folder in its path is a file) is said, and the pass does not count.
        let notAFolder = dir + "/plain-file"
        FileManager.default.createFile(atPath: notAFolder, contents: Data())
        let broken = WALSyncer(store: notAFolder + "/x.db", every: 0.01) { reports.add($0) }
        defer { broken.stop() }
        try waitUntil("a problem reported") { !reports.problems.isEmpty }
        XCTAssertTrue(reports.problems.first?.contains("plain-file/x.db-wal") ?? false, "\(reports.problems)")
        XCTAssertEqual(broken.syncedPasses, 0)
    }
}

private final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ p: String?) { if let p { lock.withLock { list.append(p) } } }
    var problems: [String] { lock.withLock { list } }
}
