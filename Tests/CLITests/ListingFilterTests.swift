import XCTest
import Foundation

/// The listing filters accept what the tables print and refuse what nobody has.
extension CLITests {
    func ids(_ args: [String]) throws -> [Int] {
        let r = try cityeye(["incidents", "--db", db, "--json"] + args)
        XCTAssertEqual(r.code, 0, r.err)
        return r.out.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int
        }
    }

    func testFiltersTakeWhatTheTablesPrint() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        XCTAssertEqual(try ids(["--severity", "CRIT"]), [1, 2], "the SEV column's CRIT")
        XCTAssertEqual(try ids(["--severity", "critical"]), [1, 2])
        XCTAssertEqual(try ids(["--severity", "min"]), [])
        XCTAssertEqual(try ids(["--limit", "1"]), [1])
        XCTAssertEqual(try cityeye(["ack", "1", "--worker", "w-li", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["resolve", "1", "--worker", "w-li", "--note", "done", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["close", "1", "--worker", "s-zhao", "--db", db]).code, 0)
        XCTAssertEqual(try ids(["--status", "open"]), [2], "open: every status but closed")
        XCTAssertEqual(try ids(["--status", "closed"]), [1])
        XCTAssertEqual(try ids(["--since", "2026-11-24"]), [1, 2], "a local date")
        XCTAssertEqual(try ids(["--since", "2026-11-25"]), [])
        XCTAssertEqual(try ids(["--since", "2026-11-24T08:00:30+08:00"]), [2])
        XCTAssertEqual(try ids(["--since", "36500d"]), [1, 2], "a duration back from now")
        XCTAssertEqual(try ids(["--since", "1h"]), [], "the log is from 2026-11-24, long before now")
    }

    func testFiltersRefuseWhatNobodyHas() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        for (args, word) in [(["--worker", "w-nobody"], "w-nobody"), (["--grid", "g-nowhere"], "g-nowhere"),
                             (["--scenario", "elevatr"], "elevatr"), (["--severity", "huge"], "huge"),
                             (["--status", "done"], "done"), (["--since", "yesterday"], "yesterday"), (["--limit", "0"], "0")] {
            let r = try cityeye(["incidents", "--db", db] + args)
            XCTAssertNotEqual(r.code, 0, "\(args)")
            XCTAssertTrue(r.err.contains(word), "\(args): \(r.err)")
        }
        XCTAssertEqual(try cityeye(["incidents", "--db", db, "--scenario", "electricity"]).code, 0)
    }

    /// A supervisor's row counts what was escalated to them, not 0 0 0.
    func testWorkloadCountsEscalationsForTheSupervisor() throws {
        let log = try writeLog([
            env("1", "2026-11-24T08:00:00.000+08:00", "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"),
            env("2", "2026-11-24T09:00:00.000+08:00", "czq-smoke-01", "smoke.alarm"),
        ])
        XCTAssertEqual(try cityeye(["replay", log, "--rules", "scenarios", "--registry", registry, "--db", db]).code, 0)
        let r = try cityeye(["workload", "--db", db, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let rows = r.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let zhao = try XCTUnwrap(rows.first { $0["kind"] as? String == "worker" && $0["id"] as? String == "s-zhao" })
        XCTAssertEqual(zhao["escalated"] as? Int, 1, "the elevator alarm, not acknowledged in 5 min, went to s-zhao: \(r.out)")
        let li = try XCTUnwrap(rows.first { $0["id"] as? String == "w-li" })
        XCTAssertEqual(li["open"] as? Int, 1)
        XCTAssertEqual(li["escalated"] as? Int, 1)
    }
}
