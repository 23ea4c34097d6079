import XCTest
import Foundation
import TestSupport

/// `cityeye dead-letters` on a store whose flood went past the rate limit: the rows kept, `--counts`, and the line on
/// stderr saying how many were counted but not kept.
final class DeadLettersCommandTests: XCTestCase {
    var db = ""

    override func setUpWithError() throws {
        let dir = try temporaryFolder("cityeye-dl-cli")
        db = dir.appendingPathComponent("x.db").path
        let registry = dir.appendingPathComponent("registry.yaml").path
        try RegistryFixtures.changzhengqiao.write(toFile: registry, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir.path + "/no-rules", withIntermediateDirectories: true)
        // One accepted event, then 100 lines naming the elevator with an unknown type and 3 broken ones in its minute.
        var lines = [#"{"id":"1","ts":"2026-11-24T08:00:00.000+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{}}"#]
        lines += (0..<100).map { #"{"topic":"cityeye/changzhengqiao/czq-elev-01","id":"g\#($0)","ts":"2026-11-24T08:00:01.000+08:00","device":"czq-elev-01","type":"elevator.nope","data":{}}"# }
        lines += ["{broken", "{broken", "{broken"]
        let log = dir.path + "/flood.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let r = try CityEyeBinary.run(["replay", log, "--rules", dir.path + "/no-rules", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 0, r.err)
    }

    func testTheListingKeepsItsFieldsAndSaysHowManyWereNotKept() throws {
        let json = try CityEyeBinary.run(["dead-letters", "--db", db, "--json"])
        XCTAssertEqual(json.code, 0, json.err)
        let rows = json.out.split(separator: "\n")
        XCTAssertEqual(rows.count, 63, "60 for the elevator in its minute, and the 3 broken lines (their own source)")
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(rows[0].utf8)) as? [String: Any])
        XCTAssertEqual(Set(first.keys), ["reason", "topic", "received_at", "detail", "payload"])
        XCTAssertEqual(json.err, "", "--json stays exact: nothing on stderr")

        let text = try CityEyeBinary.run(["dead-letters", "--db", db, "--limit", "5"], env: ["NO_COLOR": "1"])
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.err.hasPrefix("40 more rejected messages were counted but not kept"), text.err)
        XCTAssertTrue(text.err.contains("`--counts`"), text.err)
        let broken = try CityEyeBinary.run(["dead-letters", "--db", db, "--reason", "bad_json"], env: ["NO_COLOR": "1"])
        XCTAssertEqual(broken.err, "", "every bad_json line was kept")
    }

    func testCountsShowEveryRejectionPerReasonAndTopic() throws {
        let r = try CityEyeBinary.run(["dead-letters", "--db", db, "--counts", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let rows = try r.out.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0]["reason"] as? String, "bad_json")
        XCTAssertEqual(rows[0]["topic"] as? String, "")
        XCTAssertEqual(rows[0]["count"] as? Int, 3)
        XCTAssertEqual(rows[1]["reason"] as? String, "unknown_type")
        XCTAssertEqual(rows[1]["topic"] as? String, "cityeye/changzhengqiao/czq-elev-01")
        XCTAssertEqual(rows[1]["count"] as? Int, 100)
        XCTAssertEqual(rows[1]["first_at"] as? String, "2026-11-24T00:00:00.000Z")
        XCTAssertEqual(rows[1]["last_at"] as? String, "2026-11-24T00:00:00.000Z")

        let text = try CityEyeBinary.run(["dead-letters", "--db", db, "--counts", "--reason", "unknown_type"], env: ["NO_COLOR": "1"])
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.out.contains("COUNT"), text.out)
        XCTAssertTrue(text.out.contains("100"), text.out)
        XCTAssertFalse(text.out.contains("bad_json"), text.out)
    }
}
