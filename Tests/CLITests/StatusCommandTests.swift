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

    func testStatusOnAMissingStoreSaysHowToMakeOne() throws {
        let r = try cityeye(["status", "--db", db + ".nothing"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("no store at"), r.err)
    }
}
