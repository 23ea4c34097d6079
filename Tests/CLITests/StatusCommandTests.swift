import XCTest
import Foundation
import TestSupport

/// `cityeye status`: one look at a store for an operator.
extension CLITests {
    func testStatusShowsClockOpenIncidentsDeadLettersAndNoEngine() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        XCTAssertEqual(try cityeye(["ack", "1", "--worker", "w-li", "--db", db]).code, 0)
        let r = try cityeye(["status", "--db", db, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.out)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(o["store"] as? String, db)
        XCTAssertEqual(o["engine_running"] as? Bool, false)
        XCTAssertTrue(o["engine"] is NSNull)
        XCTAssertEqual(o["rule_clock"] as? String, "2026-11-24T00:01:00.000Z", "the event time the replay reached (the last line is a duplicate)")
        XCTAssertEqual(o["dead_letters"] as? Int, 1)
        XCTAssertEqual(o["dead_letters_by_reason"] as? [String: Int], ["bad_json": 1])
        let size = try XCTUnwrap(o["size_bytes"] as? Int)
        XCTAssertGreaterThan(size, 4096)
        XCTAssertNotNil(o["last_write"] as? String)
        // An acknowledged incident is still open.
        let incidents = try XCTUnwrap(o["incidents"] as? [String: [String: Int]])
        XCTAssertEqual(incidents["elevator"], ["open": 1, "escalated": 0, "overdue": 0])
        XCTAssertEqual(incidents["electricity"], ["open": 1, "escalated": 0, "overdue": 0])

        let text = try cityeye(["status", "--db", db])
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.out.contains("engine        not running"), text.out)
        XCTAssertTrue(text.out.contains("rule clock    2026-11-24T00:01:00.000Z"), text.out)
        XCTAssertTrue(text.out.contains("dead letters  1 (bad_json 1)"), text.out)
        XCTAssertTrue(text.out.contains("total"), text.out)

        XCTAssertEqual(try cityeye(["ack", "2", "--worker", "w-chen", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["resolve", "2", "--worker", "w-chen", "--note", "fine", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["close", "2", "--worker", "s-zhao", "--db", db]).code, 0)
        let after = try cityeye(["status", "--db", db, "--json"])
        let o2 = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(after.out.utf8)) as? [String: Any])
        XCTAssertNil((o2["incidents"] as? [String: Any])?["electricity"], "a closed incident is not open: \(after.out)")
    }

    /// The audit chain: verified by the command itself when it can read the key, else what an engine recorded (none
    /// after a replay), with why it could not verify.
    func testStatusVerifiesTheAuditChainWithTheKeyAndSaysWhenItCannot() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        func audit(_ extra: [String]) throws -> [String: Any] {
            let r = try cityeye(["status", "--db", db, "--json"] + extra)
            XCTAssertEqual(r.code, 0, r.err)
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            return try XCTUnwrap(o["audit_chain"] as? [String: Any], r.out)
        }
        let verified = try audit([])
        XCTAssertEqual(verified["state"] as? String, "intact")
        XCTAssertEqual(verified["source"] as? String, "verified")
        let rows = try XCTUnwrap(verified["rows_verified"] as? Int)
        XCTAssertGreaterThan(rows, 0)
        XCTAssertEqual(verified["checked_up_to"] as? Int, rows)
        XCTAssertEqual(verified["chains"] as? Int, 1)
        XCTAssertTrue(verified["row"] is NSNull)
        XCTAssertTrue(verified["key_problem"] is NSNull)
        XCTAssertNotNil(verified["checked_at"] as? String)

        let recorded = try audit(["--audit-recorded"])
        XCTAssertEqual(recorded["state"] as? String, "unknown", "a replay records no engine check")
        XCTAssertEqual(recorded["source"] as? String, "none")

        let noKey = try audit(["--audit-key", db + ".elsewhere"])
        XCTAssertEqual(noKey["state"] as? String, "unknown")
        XCTAssertEqual(noKey["key_problem"] as? String, "audit key \(db).elsewhere: no such file")
        let text = try cityeye(["status", "--db", db, "--audit-key", db + ".elsewhere"])
        XCTAssertTrue(text.out.contains("audit chain   not known: no engine has recorded a check, and this command cannot verify: audit key"), text.out)

        // A row changed by someone who can write the store: named by community and row, exit still 0.
        let sql = Process()
        sql.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sql.arguments = [db, "DROP TRIGGER audit_no_update; UPDATE audit SET note = 'x' WHERE id = 2;"]
        try sql.run()
        sql.waitUntilExit()
        let broken = try audit([])
        XCTAssertEqual(broken["state"] as? String, "broken")
        XCTAssertEqual(broken["row"] as? Int, 2)
        XCTAssertEqual(broken["break_kind"] as? String, "changed")
        XCTAssertNotNil(broken["chain"] as? String)
        let brokenText = try cityeye(["status", "--db", db])
        XCTAssertEqual(brokenText.code, 0)
        XCTAssertTrue(brokenText.out.contains("audit chain   BROKEN in community \(broken["chain"] as? String ?? "?") at audit row 2: "), brokenText.out)
        XCTAssertTrue(brokenText.out.contains("[verified now]"), brokenText.out)
    }

    func testStatusOnAMissingStoreSaysHowToMakeOne() throws {
        let r = try cityeye(["status", "--db", db + ".nothing"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("no store at"), r.err)
    }
}
