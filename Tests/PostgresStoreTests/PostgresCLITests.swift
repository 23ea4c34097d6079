import XCTest
import Foundation
import TestSupport

/// `cityeye replay --db postgres://…`, then `incidents` and `show` from it, as an operator runs them; the command that
/// does not support PostgreSQL yet says so (exit 2), and a server that is down or a bad URL is a message, not a crash.
final class PostgresCLITests: PostgresTestCase {
    func testReplayIntoPostgreSQLThenIncidentsAndShowPrintWhatSQLiteWouldPrint() throws {
        try pg.psql("CREATE DATABASE cli_city")
        let url = "postgres://\(pg.user)@127.0.0.1:\(pg.port)/cli_city"
        let folder = try temporaryPath("cityeye-pgcli")
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let log = dir.appendingPathComponent("elevator-morning.jsonl").path
        let common = ["--registry", dir.appendingPathComponent("registry.yaml").path, "--rules", Repo.scenarios.path, "--quiet"]
        let replay = try CityEyeBinary.run(["replay", log, "--db", url, "--audit-key", folder + "/pg.key"] + common)
        XCTAssertEqual(replay.code, 0, replay.err)
        XCTAssertTrue(replay.out.contains("incidents raised"), replay.out)
        let lite = folder + "/city.db"
        let replayLite = try CityEyeBinary.run(["replay", log, "--db", lite] + common)
        XCTAssertEqual(replayLite.code, 0, replayLite.err)

        let list = try CityEyeBinary.run(["incidents", "--db", url, "--json"])
        XCTAssertEqual(list.code, 0, list.err)
        XCTAssertFalse(list.out.isEmpty)
        XCTAssertEqual(list.out, try CityEyeBinary.run(["incidents", "--db", lite, "--json"]).out)
        let table = try CityEyeBinary.run(["incidents", "--db", url, "--wide"])
        XCTAssertEqual(table.code, 0, table.err)
        XCTAssertEqual(table.out, try CityEyeBinary.run(["incidents", "--db", lite, "--wide"]).out)
        XCTAssertTrue(table.out.contains("elevator"), table.out)
        let show = try CityEyeBinary.run(["show", "1", "--db", url])
        XCTAssertEqual(show.code, 0, show.err)
        XCTAssertEqual(show.out, try CityEyeBinary.run(["show", "1", "--db", lite]).out)
        let none = try CityEyeBinary.run(["show", "999", "--db", url])
        XCTAssertEqual(none.code, 1)
        XCTAssertTrue(none.err.contains("no incident 999 in \(url)"), none.err)

        // A second replay into the same database counts everything as a duplicate.
        let again = try CityEyeBinary.run(["replay", log, "--db", url, "--audit-key", folder + "/pg.key", "--json"] + common)
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertTrue(again.out.contains("\"accepted\":0"), again.out)
    }

    /// The closed loop on a PostgreSQL store, as grid workers and supervisors run it from the command line: the same
    /// refusals and audit rows as on SQLite, sealed with the store's key; workload and dead letters read alike.
    func testPeoplesActionsWorkloadDeadLettersAndAuditVerifyOnPostgreSQL() throws {
        try pg.psql("CREATE DATABASE cli_loop")
        let url = "postgres://\(pg.user)@127.0.0.1:\(pg.port)/cli_loop"
        let folder = try temporaryPath("cityeye-pgloop")
        let key = folder + "/pg.key"
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let log = dir.appendingPathComponent("elevator-morning.jsonl").path
        let common = ["--registry", dir.appendingPathComponent("registry.yaml").path, "--rules", Repo.scenarios.path, "--quiet"]
        XCTAssertEqual(try CityEyeBinary.run(["replay", log, "--db", url, "--audit-key", key] + common).code, 0)
        let lite = folder + "/city.db"
        XCTAssertEqual(try CityEyeBinary.run(["replay", log, "--db", lite] + common).code, 0)
        func run(_ args: [String]) throws -> CityEyeBinary.Result {
            try CityEyeBinary.run(args + ["--db", url, "--audit-key", key])
        }

        var r = try run(["ack", "1", "--worker", "w-chen"])
        XCTAssertEqual(r.code, 1, "not the assignee: refused")
        r = try run(["ack", "99", "--worker", "w-li"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("no incident 99 in \(url)"), r.err)
        r = try run(["close", "1", "--worker", "s-zhao"])
        XCTAssertEqual(r.code, 1, "closing a dispatched incident is refused")
        r = try run(["ack", "1", "--worker", "w-li"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("incident 1 acknowledged by w-li"), r.out)
        XCTAssertTrue(r.err.isEmpty, "sealed with the key, no warning: \(r.err)")
        XCTAssertEqual(try run(["resolve", "1", "--worker", "w-li", "--note", "  "]).code, 1, "a resolve needs a note")
        XCTAssertEqual(try run(["resolve", "1", "--worker", "w-li", "--note", "freed the passenger"]).code, 0)
        XCTAssertEqual(try run(["close", "1", "--worker", "w-li"]).code, 1, "only a supervisor closes")
        XCTAssertEqual(try run(["close", "1", "--worker", "s-zhao"]).code, 0)
        XCTAssertEqual(try run(["reopen", "1", "--worker", "s-zhao", "--note", "still stuck"]).code, 0)

        func actions(_ db: String) throws -> [String] {
            try CityEyeBinary.run(["show", "1", "--db", db, "--json"]).out.split(separator: "\n").dropFirst().compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["action"] as? String
            }
        }
        XCTAssertEqual(Array(try actions(url).suffix(4)), ["acknowledged", "resolved", "closed", "reopened"])
        let verify = try run(["audit", "verify"])
        XCTAssertEqual(verify.code, 0, verify.err)
        let wrongKey = try CityEyeBinary.run(["audit", "verify", "--db", url, "--audit-key", folder + "/other.key"])
        XCTAssertEqual(wrongKey.code, 1, "a key that is not there is an error, not a pass")

        // The same actions on the SQLite store give the same workload; dead letters read alike.
        for a in [["ack", "1", "--worker", "w-li"], ["resolve", "1", "--worker", "w-li", "--note", "freed the passenger"],
                  ["close", "1", "--worker", "s-zhao"], ["reopen", "1", "--worker", "s-zhao", "--note", "still stuck"]] {
            XCTAssertEqual(try CityEyeBinary.run(a + ["--db", lite]).code, 0, "\(a)")
        }
        XCTAssertEqual(try actions(url), try actions(lite))
        for args in [["workload"], ["workload", "--json"], ["dead-letters"], ["dead-letters", "--counts"]] {
            let pgOut = try CityEyeBinary.run(args + ["--db", url])
            XCTAssertEqual(pgOut.code, 0, "\(args): \(pgOut.err)")
            XCTAssertEqual(pgOut.out, try CityEyeBinary.run(args + ["--db", lite]).out, "\(args)")
        }
        XCTAssertTrue(try CityEyeBinary.run(["workload", "--db", url]).out.contains("w-li"))

        // status: a replayed store, no partitioned engine; the chains verified with the key.
        let status = try run(["status"])
        XCTAssertEqual(status.code, 0, status.err)
        XCTAssertTrue(status.out.contains("engines       none alive"), status.out)
        XCTAssertTrue(status.out.contains("partitions    none"), status.out)
        XCTAssertTrue(status.out.contains("rule clock    2026-"), status.out)
        XCTAssertTrue(status.out.contains("audit chain   intact"), status.out)
        XCTAssertTrue(status.out.contains("verified now"), status.out)
        XCTAssertFalse(status.out.contains("engine        "), "no one-engine lock line: \(status.out)")
        let json = try run(["status", "--json"])
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any], json.out)
        XCTAssertEqual(o["engines_alive"] as? Int, 0)
        XCTAssertEqual((o["partitions"] as? [Any])?.count, 0)
        XCTAssertEqual((o["audit_chain"] as? [String: Any])?["state"] as? String, "intact")
        XCTAssertNotNil(o["incidents"] as? [String: Any])
    }

    /// Every command that takes `--db` takes a PostgreSQL URL: a server that is down is a message naming it (exit 1),
    /// never a file called `postgres:`; a password file with an SQLite store is a usage error.
    func testEveryDBCommandTakesAURLAndAServerDownIsAMessage() throws {
        let down = "postgres://cityeye@127.0.0.1:\(try PostgresServer.unusedPort())/city"
        for args in [["status"], ["people", "list"], ["workload"], ["dead-letters"], ["audit", "verify"], ["ack", "1", "--worker", "w1"]] {
            let r = try CityEyeBinary.run(args + ["--db", down])
            XCTAssertEqual(r.code, 1, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains("PostgreSQL at \(down) cannot be reached"), "\(args): \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: Repo.root.appendingPathComponent("postgres:").path), "never a file name")
        }
        let file = try CityEyeBinary.run(["incidents", "--db", "city.db", "--db-password-file", "/nonexistent"])
        XCTAssertEqual(file.code, 2, file.err)
        XCTAssertTrue(file.err.contains("--db-password-file is for a PostgreSQL store"), file.err)
    }

    func testAServerThatIsDownABadURLAndAMissingDatabaseAreMessagesWithoutThePassword() throws {
        let dir = Repo.scenarios.appendingPathComponent("waste")
        let down = "postgres://cityeye@127.0.0.1:\(try PostgresServer.unusedPort())/city"
        let replay = try CityEyeBinary.run(["replay", dir.appendingPathComponent("waste-day.jsonl").path,
                                            "--registry", dir.appendingPathComponent("registry.yaml").path,
                                            "--rules", Repo.scenarios.path, "--db", down, "--quiet"],
                                           env: ["PGPASSWORD": "s3cret-pw"])
        XCTAssertEqual(replay.code, 1, replay.err)
        XCTAssertTrue(replay.err.contains("PostgreSQL at \(down) cannot be reached"), replay.err)
        XCTAssertFalse(replay.err.contains("s3cret-pw") || replay.out.contains("s3cret-pw"))

        let withPassword = try CityEyeBinary.run(["incidents", "--db", "postgres://u:hunter2@127.0.0.1/city"])
        XCTAssertEqual(withPassword.code, 1, withPassword.err)
        XCTAssertTrue(withPassword.err.contains("carries a password"), withPassword.err)
        XCTAssertFalse(withPassword.err.contains("hunter2"), withPassword.err)

        let missing = try CityEyeBinary.run(["incidents", "--db", "postgres://\(pg.user)@127.0.0.1:\(pg.port)/nosuchdb"])
        XCTAssertEqual(missing.code, 1, missing.err)
        XCTAssertTrue(missing.err.contains("database \"nosuchdb\" does not exist"), missing.err)

        try pg.psql("CREATE DATABASE cli_empty")
        let empty = try CityEyeBinary.run(["show", "1", "--db", "postgres://\(pg.user)@127.0.0.1:\(pg.port)/cli_empty"])
        XCTAssertEqual(empty.code, 1, empty.err)
        XCTAssertTrue(empty.err.contains("no store at postgres://"), empty.err)

        let noFile = try CityEyeBinary.run(["incidents", "--db", "postgres://\(pg.user)@127.0.0.1:\(pg.port)/cli_empty",
                                            "--db-password-file", "/nonexistent/pw"])
        XCTAssertEqual(noFile.code, 1, noFile.err)
        XCTAssertTrue(noFile.err.contains("PostgreSQL password file /nonexistent/pw: cannot read it"), noFile.err)
    }
}
