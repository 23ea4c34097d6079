import XCTest
import Foundation

/// docs/contract.md §7: no line may move a replay's clock into the future or jump it on by more than the maximum.
extension CLITests {
    func testALineFromTheFarFutureCannotMoveTheReplayClock() throws {
        let log = try writeLog([
            env("1", "2026-11-24T08:00:00.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"),
            env("2", "9999-12-31T00:00:00.000Z", "czq-smoke-01", "smoke.alarm"),
            env("3", "2036-01-01T00:00:00.000Z", "czq-smoke-01", "smoke.alarm"),
            env("4", "2026-11-24T08:01:00.000+08:00", "czq-smoke-01", "smoke.alarm"),
        ])
        let r = try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        XCTAssertEqual((summary["rejected"] as? [String: Int])?["clock_skew"], 2, r.out)
        XCTAssertEqual(summary["clock"] as? String, "2026-11-24T00:01:00.000Z", "the clock stands at the last real line")
        XCTAssertEqual(summary["largest_clock_jump_ms"] as? Int, 60_000)
        let list = try cityeye(["incidents", "--db", db, "--json"])
        XCTAssertFalse(list.out.contains("\"escalated\":true"), "nothing was escalated by a poisoned clock: \(list.out)")
        let dead = try cityeye(["dead-letters", "--db", db, "--json"])
        XCTAssertEqual(dead.out.components(separatedBy: "\"clock_skew\"").count - 1, 2, dead.out)
    }

    func testAJumpBeyondTheMaximumIsRejectedAndTheMaximumCanBeSet() throws {
        let lines = [
            env("1", "2026-10-01T08:00:00.000+08:00", "czq-elev-01", "elevator.heartbeat"),
            env("2", "2026-11-24T08:00:00.000+08:00", "czq-elev-01", "elevator.heartbeat"),
        ]
        var r = try cityeye(["replay", try writeLog(lines), "--rules", "scenarios", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("clock_skew 1"), "54 days on in one line: \(r.out)")
        r = try cityeye(["replay", try writeLog(lines), "--rules", "scenarios", "--registry", registry,
                         "--db", db + "-2", "--max-jump", "60d"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertFalse(r.out.contains("clock_skew"), r.out)
        XCTAssertTrue(r.out.contains("largest jump      54d"), r.out)
        r = try cityeye(["replay", try writeLog(lines), "--rules", "scenarios", "--registry", registry, "--db", db, "--max-jump", "soon"])
        XCTAssertEqual(r.code, 2)
    }

    /// The wrong file (nothing in it is an event) is a failure; a re-replay of only duplicates is a quiet success.
    func testReplayOfAFileWithNoEventsFails() throws {
        let notALog = try writeLog(["# a shell script", "echo hello", "exit 0"])
        let r = try cityeye(["replay", notALog, "--rules", "scenarios", "--registry", registry, "--db", db])
        XCTAssertEqual(r.code, 1, r.out)
        XCTAssertTrue(r.err.contains("could be read as an event"), r.err)
        XCTAssertEqual(try replayBasic().code, 0)
        XCTAssertEqual(try replayBasic().code, 0, "all duplicates the second time: still a success")
    }
}
