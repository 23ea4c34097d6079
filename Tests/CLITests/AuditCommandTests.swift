import XCTest
import Foundation
import TestSupport

/// `cityeye audit verify` and the key, through the built binary on real store files.
final class AuditCommandTests: XCTestCase {
    var db = ""
    var key: String { db + ".audit-key" }

    override func setUpWithError() throws {
        let dir = try temporaryFolder("cityeye-audit-cli")
        db = dir.appendingPathComponent("x.db").path
        let registry = dir.appendingPathComponent("registry.yaml").path
        try RegistryFixtures.changzhengqiao.write(toFile: registry, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("day.jsonl").path
        try """
        {"id":"1","ts":"2026-11-24T08:00:00.000+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{"kind":"button"}}
        {"id":"2","ts":"2026-11-24T08:00:10.000+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{"kind":"button"}}
        {"id":"1","ts":"2026-11-24T08:01:00.000+08:00","device":"czq-smoke-01","type":"smoke.alarm","data":{}}

        """.write(toFile: log, atomically: true, encoding: .utf8)
        let r = try CityEyeBinary.run(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("audit at start    audit intact: 0 rows in 0 chains"), r.out)
    }

    /// The rows an intact verify counted.
    func verifiedRows(_ extra: [String] = []) throws -> Int {
        let r = try CityEyeBinary.run(["audit", "verify", "--db", db] + extra)
        XCTAssertEqual(r.code, 0, r.err)
        let words = r.out.split(separator: " ")
        XCTAssertEqual(words.prefix(2).joined(separator: " "), "audit intact:", r.out)
        XCTAssertTrue(r.out.contains(" rows in 1 chains (rows before the chain began: 0)"), r.out)
        return Int(words.dropFirst(2).first ?? "") ?? -1
    }

    func testAReplayVerifiesAndAPersonsActionIsSealedWithTheKey() throws {
        var st = stat()
        XCTAssertEqual(stat(key, &st), 0, "replay creates the key next to the store")
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let rows = try verifiedRows()
        XCTAssertGreaterThanOrEqual(rows, 5, "raised and dispatched twice, a repeat")
        let ack = try CityEyeBinary.run(["ack", "1", "--worker", "w-li", "--db", db])
        XCTAssertEqual(ack.code, 0, ack.err)
        XCTAssertEqual(ack.err, "", "sealed: no warning")
        XCTAssertEqual(try verifiedRows(["--audit-key", key]), rows + 1)

        // A head logged later than what the store holds: rows were cut off the end.
        let heads = (db as NSString).deletingLastPathComponent + "/engine.log"
        try "2026-11-24T08:00:00Z ready\n2026-11-24T08:05:00Z audit heads changzhengqiao=\(rows + 5):00ff00ff00ff00ff\n"
            .write(toFile: heads, atomically: true, encoding: .utf8)
        let cut = try CityEyeBinary.run(["audit", "verify", "--db", db, "--heads", heads])
        XCTAssertEqual(cut.code, 1)
        XCTAssertTrue(cut.err.contains("chain changzhengqiao: the rows after audit row \(rows + 1) are missing"), cut.err)
    }

    func testAnActionWithoutAReadableKeyIsPerformedWarnedAndReportedUnsealed() throws {
        let rows = try verifiedRows()
        let away = key + ".away"
        try FileManager.default.moveItem(atPath: key, toPath: away)
        let ack = try CityEyeBinary.run(["ack", "1", "--worker", "w-li", "--db", db])
        XCTAssertEqual(ack.code, 0, "the action is never refused because of the key: \(ack.err)")
        XCTAssertTrue(ack.out.contains("incident 1 acknowledged by w-li"), ack.out)
        XCTAssertTrue(ack.err.contains("warning: audit key \(key): no such file"), ack.err)
        XCTAssertTrue(ack.err.contains("not sealed"), ack.err)

        let noKey = try CityEyeBinary.run(["audit", "verify", "--db", db])
        XCTAssertEqual(noKey.code, 1)
        XCTAssertTrue(noKey.err.contains("audit key \(key): no such file"), noKey.err)
        let r = try CityEyeBinary.run(["audit", "verify", "--db", db, "--audit-key", away])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("chain changzhengqiao: audit row \(rows + 1) has no MAC"), r.err)
    }

    func testAChangedRowIsNamed() throws {
        _ = try verifiedRows()
        let sql = Process()
        sql.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sql.arguments = [db, "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'w-li' WHERE id = 2;"]
        try sql.run()
        sql.waitUntilExit()
        let r = try CityEyeBinary.run(["audit", "verify", "--db", db])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("AUDIT CHAIN BROKEN: chain changzhengqiao: audit row 2 does not match its MAC"), r.err)
    }
}
