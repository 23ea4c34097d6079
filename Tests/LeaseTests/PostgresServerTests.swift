import XCTest
import Foundation
import TestSupport

/// The test harness itself: a private PostgreSQL that starts, keeps its data over a restart, and goes away.
final class PostgresServerTests: XCTestCase {
    func testAPrivateServerRunsOnItsOwnPortKeepsDataOverARestartAndIsRemoved() throws {
        let pg = try PostgresServer.start()
        XCTAssertNotEqual(pg.port, 5432, "never the system cluster's port")
        XCTAssertEqual(pg.url, "postgres://cityeye@127.0.0.1:\(pg.port)/postgres")
        try pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
        XCTAssertEqual(try pg.psql("SHOW port").trimmingCharacters(in: .whitespacesAndNewlines), "\(pg.port)")
        try pg.restart()
        XCTAssertEqual(try pg.psql("SELECT x FROM t").trimmingCharacters(in: .whitespacesAndNewlines), "42")
        XCTAssertThrowsError(try pg.psql("SELECT nope FROM t")) { XCTAssertTrue("\($0)".contains("nope"), "\($0)") }
        pg.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: pg.folder))
        XCTAssertThrowsError(try pg.psql("SELECT 1"), "the server is gone")
    }

    func testMissingBinariesSkipOnADesktopAndFailOnCI() {
        XCTAssertThrowsError(try PostgresServer.start(binaries: "/nonexistent/bin", environment: [:])) { error in
            XCTAssertTrue(error is XCTSkip, "\(error)")
            XCTAssertTrue("\(error)".contains("apt-get install -y postgresql-15"), "\(error)")
        }
        XCTAssertThrowsError(try PostgresServer.start(binaries: "/nonexistent/bin", environment: ["CI": "true"])) { error in
            XCTAssertTrue(error is PostgresServerError, "with CI set it fails, never skips: \(error)")
            XCTAssertTrue("\(error)".contains("CI is set"), "\(error)")
        }
    }
}
