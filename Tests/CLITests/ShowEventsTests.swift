import XCTest
import Foundation

/// `cityeye show`'s EVENTS: the occurrences behind the incident, escaped on a terminal, exact in `--json`.
extension CLITests {
    func testShowListsTheEventsBehindAnIncidentEscapedAndJSONKeepsThemExact() throws {
        let hostile = "<b>\u{1B}[2J\n11-24 08:05  fake\u{202E}</script>"
        let data = "{\"kind\":\"button\",\"note\":\(JSONText(hostile))}"
        var lines: [String] = []
        for n in 0..<30 {
            lines.append(env("e\(n)", String(format: "2026-11-24T08:%02d:00.000+08:00", n), "czq-elev-01", "elevator.alarm",
                             n == 0 ? data : "{\"kind\":\"button\"}"))
        }
        let r = try cityeye(["replay", try writeLog(lines), "--rules", "scenarios", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 0, r.err)
        let show = try cityeye(["show", "1", "--db", db], env: ["NO_COLOR": "1"])
        XCTAssertEqual(show.code, 0, show.err)
        for c in Self.hostile { XCTAssertFalse(show.out.contains(c), "raw U+\(String(c.unicodeScalars.first!.value, radix: 16)) in:\n\(show.out)") }
        XCTAssertTrue(show.out.contains("EVENTS  25 of 30 occurrence(s)"), show.out)
        let out = show.out.split(separator: "\n")
        let first = try XCTUnwrap(out.first { $0.hasPrefix("1 ") })
        // Local time in the community's zone, type, device, the data as compact JSON (its \n and \u001b as JSON writes them).
        XCTAssertTrue(first.contains("2026-11-24 08:00:00"), String(first))
        XCTAssertTrue(first.contains("elevator.alarm") && first.contains("czq-elev-01"), String(first))
        XCTAssertTrue(first.contains(#"{"kind":"button","note":"<b>\u001b[2J\u000a11-24 08:05  fake\u{202e}</script>"}"#), String(first))
        XCTAssertFalse(out.contains { $0.hasPrefix("11-24 08:05") }, "the data forges no line")
        XCTAssertTrue(out.contains { $0.hasPrefix("…") && $0.contains("5 more occurrence(s) not kept") }, show.out)
        XCTAssertTrue(out.contains { $0.hasPrefix("30 ") && $0.contains("08:29:00") }, show.out)

        let json = try cityeye(["show", "1", "--db", db, "--json"])
        let head = try XCTUnwrap(json.out.split(separator: "\n").first)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(head.utf8)) as? [String: Any])
        let events = try XCTUnwrap(object["events"] as? [[String: Any]])
        XCTAssertEqual(events.map { $0["seq"] as? Int }, (Array(1...5) + Array(11...30)).map { $0 })
        XCTAssertEqual(object["events_not_kept"] as? Int, 5)
        XCTAssertEqual(events[0]["event_id"] as? String, "e0")
        XCTAssertEqual(events[0]["ts"] as? String, "2026-11-24T00:00:00.000Z")
        XCTAssertEqual((events[0]["data"] as? [String: Any])?["note"] as? String, hostile, "--json keeps the exact data")
    }
}

private func JSONText(_ s: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed), as: UTF8.self)
}
