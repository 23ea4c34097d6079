import XCTest
import Foundation
import TestSupport
@testable import Store

/// A store command pointed at the wrong file refuses it and leaves it exactly as it was.
final class StoreOwnershipTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-own")
    }

    func sqlite(_ db: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [db, sql]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testAnotherApplicationsDatabaseIsRefusedAndLeftAlone() throws {
        let db = dir + "/other.db"
        _ = try sqlite(db, "CREATE TABLE customer (id INTEGER PRIMARY KEY); INSERT INTO customer VALUES (7);")
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        for create in [false, true] {
            XCTAssertThrowsError(try Store(path: db, create: create)) { e in
                XCTAssertEqual((e as? StoreError)?.code, .notAStore, "\(e)")
                XCTAssertTrue("\(e)".contains("not a City Eye store"), "\(e)")
            }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before, "not one byte changed")
        XCTAssertEqual(try sqlite(db, "PRAGMA journal_mode"), "delete", "its journal mode was not switched to WAL")
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + "-wal"))
    }

    func testAFileThatIsNotSQLiteIsRefused() throws {
        let f = dir + "/notes.txt"
        try Data(String(repeating: "not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: f))
        XCTAssertThrowsError(try Store(path: f, create: false)) { e in
            XCTAssertEqual((e as? StoreError)?.code, .notAStore, "\(e)")
        }
    }

    func testAMissingStoreIsNotCreatedByAReader() throws {
        let f = dir + "/none.db"
        XCTAssertThrowsError(try Store(path: f, create: false)) { e in XCTAssertEqual((e as? StoreError)?.code, .missing) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: f))
        XCTAssertThrowsError(try Store(path: dir + "/no/such/folder/x.db")) { e in XCTAssertEqual((e as? StoreError)?.code, .missing) }
    }

    func testANewerSchemaIsRefusedWithItsOwnCode() throws {
        let f = dir + "/new.db"
        try Store(path: f).close()
        _ = try sqlite(f, "INSERT INTO schema_migration(version, name) VALUES (999, 'from the future')")
        XCTAssertThrowsError(try Store(path: f, create: false)) { e in XCTAssertEqual((e as? StoreError)?.code, .newerSchema, "\(e)") }
    }
}
