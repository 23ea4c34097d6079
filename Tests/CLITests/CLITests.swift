import XCTest
import Foundation
import TestSupport

/// Runs the built `cityeye` binary as a user would, on a real store file.
final class CLITests: XCTestCase {
    typealias Result = CityEyeBinary.Result

    @discardableResult
    func cityeye(_ args: [String], env: [String: String] = [:]) throws -> Result {
        try CityEyeBinary.run(args, env: env)
    }

    var db = ""
    var registry = ""

    override func setUpWithError() throws {
        let dir = try temporaryFolder("cityeye-cli")
        db = dir.appendingPathComponent("x.db").path
        registry = dir.appendingPathComponent("registry.yaml").path
        try RegistryFixtures.changzhengqiao.write(toFile: registry, atomically: true, encoding: .utf8)
    }

    func writeLog(_ lines: [String]) throws -> String {
        let path = (db as NSString).deletingLastPathComponent + "/log-\(UUID().uuidString).jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func env(_ id: String, _ ts: String, _ device: String, _ type: String, _ data: String = "{}", topic: String? = nil) -> String {
        let t = topic.map { "\"topic\":\"\($0)\"," } ?? ""
        return "{\(t)\"id\":\"\(id)\",\"ts\":\"\(ts)\",\"device\":\"\(device)\",\"type\":\"\(type)\",\"data\":\(data)}"
    }

    /// Two alarms (critical) on the elevator, a smoke alarm, a bad line.
    func replayBasic() throws -> Result {
        let log = try writeLog([
            env("1", "2026-11-24T08:00:00.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"),
            env("2", "2026-11-24T08:00:10.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"),
            env("1", "2026-11-24T08:01:00.000+08:00", "czq-smoke-01", "smoke.alarm"),
            "{not json",
            env("2", "2026-11-24T08:02:00.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"),
        ])
        return try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db])
    }

    func testReplayPrintsSummaryAndIncidentsAsJSON() throws {
        let r = try replayBasic()
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("events accepted   3"), r.out)
        XCTAssertTrue(r.out.contains("duplicates        1"), r.out)
        XCTAssertTrue(r.out.contains("bad_json 1"), r.out)
        let list = try cityeye(["incidents", "--db", db, "--json"])
        XCTAssertEqual(list.code, 0, list.err)
        let lines = list.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["rule"] as? String, "elevator.alarm")
        XCTAssertEqual(first["count"] as? Int, 2)
        XCTAssertEqual(first["first_seen"] as? String, "2026-11-24T00:00:00.000Z")
        XCTAssertEqual(first["last_seen"] as? String, "2026-11-24T00:00:10.000Z")
        XCTAssertEqual(first["assignee"] as? String, "w-li")
        XCTAssertEqual(first["subject"] as? String, "czq-b3-elevator")
        for k in ["id", "rule", "scenario", "severity", "key", "device", "subject", "community", "grid", "first_seen",
                  "last_seen", "count", "condition", "status", "assignee", "escalated", "overdue"] {
            XCTAssertNotNil(first[k], "field \(k)")
        }
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(second["rule"] as? String, "electricity.smoke")
        XCTAssertEqual(second["assignee"] as? String, "w-chen")
        let dead = try cityeye(["dead-letters", "--db", db, "--json"])
        XCTAssertEqual(dead.code, 0)
        XCTAssertTrue(dead.out.contains("\"reason\":\"bad_json\""), dead.out)
        XCTAssertTrue(dead.out.contains("\"received_at\""), dead.out)
    }

    func testTheClosedLoopAndItsRefusals() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        // Not the assignee: refused, nothing changes.
        var r = try cityeye(["ack", "1", "--worker", "w-chen", "--db", db])
        XCTAssertEqual(r.code, 1)
        XCTAssertFalse(r.err.isEmpty)
        r = try cityeye(["ack", "1", "--worker", "nobody", "--db", db])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("nobody"), r.err)
        r = try cityeye(["close", "1", "--worker", "s-zhao", "--db", db])
        XCTAssertEqual(r.code, 1, "closing a dispatched incident is refused")
        r = try cityeye(["ack", "99", "--worker", "w-li", "--db", db])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("99"), r.err)
        XCTAssertTrue(try cityeye(["show", "1", "--db", db, "--json"]).out.split(separator: "\n").count == 4,
                      "raised, dispatched, repeated only: refusals write no audit row")

        XCTAssertEqual(try cityeye(["ack", "1", "--worker", "w-li", "--db", db]).code, 0)
        r = try cityeye(["resolve", "1", "--worker", "w-li", "--note", "  ", "--db", db])
        XCTAssertEqual(r.code, 1, "a resolve needs a note")
        XCTAssertEqual(try cityeye(["resolve", "1", "--worker", "w-li", "--note", "freed the passenger", "--db", db]).code, 0)
        r = try cityeye(["close", "1", "--worker", "w-li", "--db", db])
        XCTAssertEqual(r.code, 1, "only a supervisor closes")
        XCTAssertEqual(try cityeye(["close", "1", "--worker", "s-zhao", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["reopen", "1", "--worker", "s-zhao", "--note", "still stuck", "--db", db]).code, 0)

        let show = try cityeye(["show", "1", "--db", db, "--json"])
        let actions = show.out.split(separator: "\n").dropFirst().compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["action"] as? String
        }
        XCTAssertEqual(actions, ["raised", "dispatched", "repeated", "acknowledged", "resolved", "closed", "reopened"])
        let human = try cityeye(["show", "1", "--db", db])
        XCTAssertTrue(human.out.contains("李敏"), human.out)
    }

    func testUsageErrorsExitTwoAndMissingStoreExitsOne() throws {
        XCTAssertEqual(try cityeye(["incidents", "--db", db, "--status", "bogus"]).code, 2)
        XCTAssertEqual(try cityeye(["replay"]).code, 2)
        XCTAssertEqual(try cityeye(["frobnicate"]).code, 2)
        let r = try cityeye(["incidents", "--db", "/nonexistent/x.db"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("no store"), r.err)
        XCTAssertEqual(try cityeye(["--help"]).code, 0)
    }

    func testBadRegistryStopsReplayWithFileAndId() throws {
        try """
        communities:
          - {id: c1, name: C1}
        grids:
          - {id: g1, community: nowhere, name: G}
        workers: []
        devices: []
        """.write(toFile: registry, atomically: true, encoding: .utf8)
        let log = try writeLog([env("1", "2026-11-24T08:00:00.000+08:00", "x", "smoke.alarm")])
        let r = try cityeye(["replay", log, "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("registry.yaml"), r.err)
        XCTAssertTrue(r.err.contains("nowhere"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "nothing starts on a bad registry")
    }

    func testHumanTableStaysAlignedWithChineseNames() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        let r = try cityeye(["incidents", "--db", db], env: ["NO_COLOR": "1"])
        XCTAssertEqual(r.code, 0)
        XCTAssertFalse(r.out.contains("\u{1B}["), "no colour when NO_COLOR is set or not a terminal")
        let lines = r.out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        // The LAST SEEN column starts at the same display column on every line.
        func col(_ line: String, of needle: String) -> Int? {
            guard let range = line.range(of: needle) else { return nil }
            return width(String(line[..<range.lowerBound]))
        }
        let header = try XCTUnwrap(col(lines[0], of: "LAST SEEN"))
        XCTAssertEqual(col(lines[1], of: "11-24 08:00"), header)
        XCTAssertEqual(col(lines[2], of: "11-24 08:01"), header)
    }

    /// On a terminal the table is cut to its width (rule, key and assignee end in `…`); `--wide` shows them whole.
    /// Run under `script`, which gives the command a terminal of the width `stty` sets.
    func testTableFitsTheTerminalWidthAndWideShowsEverything() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        func onTerminal(_ columns: Int, _ extra: String = "") throws -> [String] {
            let command = "stty cols \(columns); NO_COLOR=1 '\(CityEyeBinary.url.path)' incidents --db '\(db)' \(extra)"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            p.arguments = ["-qec", command, "/dev/null"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
                .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        }
        let narrow = try onTerminal(80)
        XCTAssertEqual(narrow.count, 3)
        XCTAssertTrue(narrow[0].hasPrefix("ID  SEV"), narrow[0])
        XCTAssertTrue(narrow[0].contains("SEEN (Shanghai)"), "the zone is named: \(narrow[0])")
        for line in narrow { XCTAssertLessThanOrEqual(width(line), 80, line) }
        XCTAssertTrue(narrow[1].contains("…"), narrow[1])
        let wide = try onTerminal(80, "--wide")
        XCTAssertFalse(wide.joined().contains("…"))
        XCTAssertTrue(wide[0].contains("LAST SEEN (Asia/Shanghai)"), wide[0])
        XCTAssertTrue(wide[0].hasSuffix("FLAGS"), "the flags column has a header: \(wide[0])")
    }

    private func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + (($1.value >= 0x2E80 && $1.value <= 0x9FFF) ? 2 : 1) }
    }
}
