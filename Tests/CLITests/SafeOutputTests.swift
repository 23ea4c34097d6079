import XCTest
import Foundation

/// Store and payload text on a terminal: control characters escaped, `--json` exact; reopen refusals.
extension CLITests {
    static let hostile: [Character] = ["\u{1B}", "\u{07}", "\u{9B}", "\u{202E}", "\u{2066}", "\u{2028}", "\u{7F}", "\r"]

    func testAResolveNoteCannotForgeALineInShow() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        XCTAssertEqual(try cityeye(["ack", "1", "--worker", "w-li", "--db", db]).code, 0)
        let note = "freed him\n\u{1B}[2K11-24 08:05:00  s-zhou 周洁  closed  \u{202E}fake\u{9B}31m"
        XCTAssertEqual(try cityeye(["resolve", "1", "--worker", "w-li", "--note", note, "--db", db]).code, 0)
        let show = try cityeye(["show", "1", "--db", db], env: ["NO_COLOR": "1"])
        XCTAssertEqual(show.code, 0, show.err)
        for c in Self.hostile { XCTAssertFalse(show.out.contains(c), "raw U+\(String(c.unicodeScalars.first!.value, radix: 16)) in:\n\(show.out)") }
        XCTAssertFalse(show.out.split(separator: "\n").contains { $0.hasPrefix("11-24 08:05:00") || $0.contains("s-zhou") && !$0.contains("freed him") },
                       "no line of its own for the forged text:\n\(show.out)")
        let line = try XCTUnwrap(show.out.split(separator: "\n").first { $0.contains("freed him") })
        XCTAssertTrue(line.contains("freed him\\n\\u{1b}[2K11-24 08:05:00  s-zhou 周洁  closed  \\u{202e}fake\\u{9b}31m"), String(line))
        XCTAssertTrue(show.out.contains("李敏"), "CJK stays as it is")
        // --json keeps the exact note.
        let json = try cityeye(["show", "1", "--db", db, "--json"])
        let notes = json.out.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["note"] as? String
        }
        XCTAssertTrue(notes.contains(note), "\(notes)")
        let list = try cityeye(["incidents", "--db", db])
        for c in Self.hostile { XCTAssertFalse(list.out.contains(c)) }
    }

    func testDeadLettersShowAnEscapeSequencePayloadEscaped() throws {
        let payload = "{\"id\":\"x\u{1B}]0;pwned\u{07}\u{1B}[2J\u{9B}1;1H\u{202E}\",\"ts\":"
        let log = try writeLog([payload])
        // Nothing in the log is an event: the replay says so (exit 1), and keeps the line as a dead letter.
        XCTAssertEqual(try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db]).code, 1)
        let human = try cityeye(["dead-letters", "--db", db], env: ["NO_COLOR": "1"])
        XCTAssertEqual(human.code, 0, human.err)
        for c in Self.hostile { XCTAssertFalse(human.out.contains(c), "raw U+\(String(c.unicodeScalars.first!.value, radix: 16)) in:\n\(human.out)") }
        XCTAssertTrue(human.out.contains("x\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}1;1H"), human.out)
        let json = try cityeye(["dead-letters", "--db", db, "--json"])
        let first = try XCTUnwrap(json.out.split(separator: "\n").first)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        XCTAssertEqual(object["payload"] as? String, payload, "--json stays exact")
    }

    func testAReopenWhileANewerIncidentIsOpenIsRefusedNamingIt() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        for args in [["ack", "1", "--worker", "w-li"], ["resolve", "1", "--worker", "w-li", "--note", "reset"], ["close", "1", "--worker", "s-zhao"]] {
            let r = try cityeye(args + ["--db", db])
            XCTAssertEqual(r.code, 0, r.err)
        }
        let later = try writeLog([env("9", "2026-11-24T09:00:00.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}")])
        let r = try cityeye(["replay", later, "--rules", "scenarios", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 0, r.err)
        let list = try cityeye(["incidents", "--db", db, "--json"]).out.split(separator: "\n")
        let third = try XCTUnwrap(list.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["rule"] as? String == "elevator.alarm" && $0["status"] as? String == "dispatched" })
        let newer = try XCTUnwrap(third["id"] as? Int)
        XCTAssertGreaterThan(newer, 1)
        var reopen = try cityeye(["reopen", "1", "--worker", "s-zhao", "--note", "again", "--db", db])
        XCTAssertEqual(reopen.code, 1)
        XCTAssertTrue(reopen.err.contains("incident \(newer)") && reopen.err.contains("elevator.alarm"), reopen.err)
        XCTAssertEqual(try cityeye(["show", "1", "--db", db, "--json"]).out.split(separator: "\n").count, 7,
                       "a refusal writes nothing")
        // Once the newer one is closed, the reopen goes through.
        for args in [["resolve", "\(newer)", "--worker", "s-zhao", "--note", "reset"], ["close", "\(newer)", "--worker", "s-zhao"]] {
            XCTAssertEqual(try cityeye(args + ["--db", db]).code, 0)
        }
        reopen = try cityeye(["reopen", "1", "--worker", "s-zhao", "--note", "again", "--db", db])
        XCTAssertEqual(reopen.code, 0, reopen.err)
    }

    func testRulesCheckExitsOneOnANeverFiringRuleAndZeroOnTheShippedSet() throws {
        let dir = (db as NSString).deletingLastPathComponent + "/rules"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "scenario: x\nrules:\n  - id: x.typo\n    severity: major\n    kind: match\n    on: elevator.ebike\n    when: \"data.confidense >= 0.85\"\n"
            .write(toFile: dir + "/x.yaml", atomically: true, encoding: .utf8)
        let bad = try cityeye(["rules", "check", "--rules", dir, "--registry", registry])
        XCTAssertEqual(bad.code, 1)
        XCTAssertTrue(bad.out.contains("x.yaml:3: rule x.typo: reads data.confidense"), bad.out)
        let ok = try cityeye(["rules", "check", "--rules", "scenarios", "--registry", registry])
        XCTAssertEqual(ok.code, 0, ok.out + ok.err)
    }
}
