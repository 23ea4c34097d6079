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

    func testCommandsThatDoNotSupportPostgreSQLYetSaySoAndExit2() throws {
        for args in [["status"]] {
            let r = try CityEyeBinary.run(args + ["--db", "postgres://cityeye@127.0.0.1:5432/city"])
            XCTAssertEqual(r.code, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains("this command does not work on a PostgreSQL store yet"), "\(args): \(r.err)")
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
