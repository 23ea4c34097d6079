import XCTest
import Foundation
import TestSupport
@testable import Lease

/// `postgres://user@host:port/db`: what is read, what is refused, and that the password never shows.
final class PostgresTargetTests: XCTestCase {
    func testAConnectionStringIsReadAndPrintedWithoutItsPassword() throws {
        let t = try PostgresTarget.parse("postgres://cityeye@db.city.local:6432/eye", environment: ["PGPASSWORD": "s3cret-pw"])
        XCTAssertEqual(t.user, "cityeye")
        XCTAssertEqual(t.host, "db.city.local")
        XCTAssertEqual(t.port, 6432)
        XCTAssertEqual(t.database, "eye")
        XCTAssertEqual(t.password, "s3cret-pw")
        XCTAssertFalse(t.requireTLS)
        XCTAssertEqual(t.description, "postgres://cityeye@db.city.local:6432/eye")
        let d = try PostgresTarget.parse("postgresql://u@[::1]?sslmode=require", environment: [:])
        XCTAssertEqual([d.host, d.database], ["::1", "u"], "the database defaults to the user's name, as libpq does")
        XCTAssertEqual(d.port, 5432)
        XCTAssertTrue(d.requireTLS)
        XCTAssertNil(d.password)
        XCTAssertEqual(d.description, "postgres://u@[::1]:5432/u?sslmode=require")
    }

    func testThePasswordFileWinsAndABadOneIsNamed() throws {
        let dir = try temporaryPath("pgpw")
        try "from-file\n\n".write(toFile: dir + "/pw", atomically: true, encoding: .utf8)
        try "\n".write(toFile: dir + "/empty", atomically: true, encoding: .utf8)
        XCTAssertEqual(try PostgresTarget.parse("postgres://u@h/d", passwordFile: dir + "/pw", environment: ["PGPASSWORD": "env"]).password,
                       "from-file")
        XCTAssertThrowsError(try PostgresTarget.parse("postgres://u@h/d", passwordFile: dir + "/nope")) {
            XCTAssertEqual("\($0)", "PostgreSQL password file \(dir)/nope: cannot read it")
        }
        XCTAssertThrowsError(try PostgresTarget.parse("postgres://u@h/d", passwordFile: dir + "/empty")) {
            XCTAssertTrue("\($0)".hasSuffix("it is empty"), "\($0)")
        }
    }

    func testBadConnectionStringsAreRefusedSayingWhy() {
        let cases: [(String, String)] = [
            ("postgres://u:hunter2@h/d", "carries a password"),
            ("mysql://u@h/d", "the scheme must be postgres://"),
            ("postgres://h/d", "names no user"),
            ("postgres://u@:5432/d", "names no host"),
            ("postgres://u@h:70000/d", "port 70000 is not 1–65535"),
            ("postgres://u@h/d/e", "the path is one database name"),
            ("postgres://u@h/d?sslmode=prefer", "sslmode must be disable or require"),
            ("postgres://u@h/d?timeout=3", "unknown parameter `timeout`"),
            ("not a url", "is not a URL"),
        ]
        for (url, says) in cases {
            XCTAssertThrowsError(try PostgresTarget.parse(url, environment: [:]), url) { error in
                XCTAssertTrue("\(error)".contains(says), "\(url): \(error)")
                XCTAssertFalse("\(error)".contains("hunter2"), "the password is never repeated: \(error)")
            }
        }
    }
}
