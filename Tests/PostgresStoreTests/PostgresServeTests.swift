import XCTest
import Foundation
import TestSupport

/// `cityeye serve` and `cityeye people` on a PostgreSQL store, as an operator of a partitioned city runs them: the
/// binaries, a PostgreSQL 15 that asks for a password, real HTTP. People sign in, act, and what they did is in the
/// store, sealed; the supervisors' cockpit shows what the same replay shows from SQLite.
final class PostgresServeTests: XCTestCase {
    nonisolated(unsafe) static var server: PostgresServer?
    static let password = "pg-Secret-4711"

    var pg: PostgresServer { Self.server! }

    override func setUpWithError() throws {
        try super.setUpWithError()
        if Self.server == nil { Self.server = try PostgresServer.start(password: Self.password) }
    }

    override class func tearDown() {
        server?.stop()
        server = nil
        super.tearDown()
    }

    /// A folder with the database's password file, the elevator scenario replayed into a new database and into an
    /// SQLite file, and a password for w-li and s-zhao in both (set with `cityeye people set-password`).
    struct City {
        var folder: String
        var url: String
        var passwordFile: String
        var key: String
        var lite: String
        var pg: [String] { ["--db", url, "--db-password-file", passwordFile] }
    }

    func replayedCity() throws -> City {
        let name = "serve_" + UUID().uuidString.prefix(8).lowercased()
        try pg.psql("CREATE DATABASE \(name)")
        let folder = try temporaryPath("cityeye-pgserve")
        let city = City(folder: folder, url: "postgres://\(pg.user)@127.0.0.1:\(pg.port)/\(name)", passwordFile: folder + "/pg.pw",
                        key: folder + "/pg.key", lite: folder + "/city.db")
        try (Self.password + "\n").write(toFile: city.passwordFile, atomically: true, encoding: .utf8)
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let common = [dir.appendingPathComponent("elevator-morning.jsonl").path, "--registry", dir.appendingPathComponent("registry.yaml").path,
                      "--rules", Repo.scenarios.path, "--quiet"]
        let replay = try CityEyeBinary.run(["replay"] + common + city.pg + ["--audit-key", city.key])
        XCTAssertEqual(replay.code, 0, replay.err)
        let replayLite = try CityEyeBinary.run(["replay"] + common + ["--db", city.lite])
        XCTAssertEqual(replayLite.code, 0, replayLite.err)
        for (who, password) in [("w-li", "li-password-1"), ("s-zhao", "zhao-password-1")] {
            for db in [city.pg, ["--db", city.lite]] {
                let set = try CityEyeBinary.run(["people", "set-password", who] + db, stdin: password + "\n")
                XCTAssertEqual(set.code, 0, set.err)
                XCTAssertTrue(set.out.contains("password set for \(who)"), set.out)
            }
        }
        return city
    }

    /// `cityeye serve` on `store`, on a free port: the process and its port.
    func serve(_ city: City, store: String, arguments: [String]) throws -> (RunningCommand, Int) {
        let config = city.folder + "/serve-\(UUID().uuidString.prefix(4)).yaml"
        try "listen: 127.0.0.1:0\nstore: \(store)\nlanguage: en\n".write(toFile: config, atomically: true, encoding: .utf8)
        let run = try RunningCommand(["serve", "--config", config] + arguments)
        let line = try run.waitForLine(containing: "serving http://127.0.0.1:")
        let port = try XCTUnwrap(Int(line.split(separator: ":").last ?? ""), line)
        return (run, port)
    }

    /// A signed-in person's browser: the session cookie and the CSRF token of its forms.
    struct Browser {
        var port: Int
        var session = ""
        var csrf = ""

        init(port: Int, worker: String, password: String) throws {
            self.port = port
            let login = try LoopbackHTTP.get(port: port, "/login")
            let token = try XCTUnwrap(Self.csrf(in: login.body))
            let signed = try LoopbackHTTP.post(port: port, "/login", form: [("worker", worker), ("password", password), ("next", "/"), ("csrf", token)],
                                               headers: ["Cookie": "ce_login=\(try XCTUnwrap(login.cookie("ce_login")))"])
            XCTAssertEqual(signed.status, 303, signed.body)
            session = try XCTUnwrap(signed.cookie("ce_session"), "\(worker) is signed in")
            csrf = try XCTUnwrap(Self.csrf(in: try get(signed.header("location") ?? "/").body))
        }

        static func csrf(in body: String) -> String? {
            guard let r = body.range(of: "name=\"csrf\" value=\"") else { return nil }
            return String(body[r.upperBound...].prefix { $0 != "\"" })
        }

        func get(_ path: String) throws -> LoopbackHTTP.Answer {
            try LoopbackHTTP.get(port: port, path, headers: ["Cookie": "ce_session=\(session)"])
        }

        /// A form of the pages (ack, resolve, close): the redirect's status.
        func post(_ path: String, _ fields: [(String, String)]) throws -> LoopbackHTTP.Answer {
            try LoopbackHTTP.post(port: port, path, form: fields + [("csrf", csrf), ("back", "/")], headers: ["Cookie": "ce_session=\(session)"])
        }

        /// The cockpit, with this session's CSRF token taken out (the only part that differs between two sessions).
        func cockpit() throws -> String {
            let page = try get("/cockpit")
            XCTAssertEqual(page.status, 200, page.body)
            return page.body.replacingOccurrences(of: csrf, with: "CSRF")
        }
    }

    func testPeopleSignInActAndASupervisorClosesOnThePostgreSQLStoreSealedAndAsSQLiteShowsIt() throws {
        let city = try replayedCity()
        let people = try CityEyeBinary.run(["people", "list"] + city.pg)
        XCTAssertEqual(people.code, 0, people.err)
        XCTAssertEqual(people.out.split(separator: "\n").filter { $0.contains(" by ") }.count, 2, people.out)
        XCTAssertTrue(people.out.split(separator: "\n").contains { $0.hasPrefix("w-wang") && $0.contains("no password") }, people.out)

        let (web, port) = try serve(city, store: city.url, arguments: ["--db-password-file", city.passwordFile, "--audit-key", city.key])
        defer { web.terminate() }
        let (webLite, portLite) = try serve(city, store: city.lite, arguments: [])
        defer { webLite.terminate() }
        let health = try LoopbackHTTP.get(port: port, "/healthz")
        XCTAssertEqual(health.status, 200, health.body)
        XCTAssertTrue(health.body.contains("last_audit_row"), health.body)

        // Wrong password: refused, as on SQLite.
        let login = try LoopbackHTTP.get(port: port, "/login")
        let wrong = try LoopbackHTTP.post(port: port, "/login", form: [("worker", "w-li"), ("password", "not-her-password"),
                                                                        ("csrf", try XCTUnwrap(Browser.csrf(in: login.body)))],
                                          headers: ["Cookie": "ce_login=\(login.cookie("ce_login") ?? "")"])
        XCTAssertEqual(wrong.status, 401, wrong.body)

        // The supervisors' cockpit from PostgreSQL is the cockpit from SQLite after the same replay.
        let zhao = try Browser(port: port, worker: "s-zhao", password: "zhao-password-1")
        let zhaoLite = try Browser(port: portLite, worker: "s-zhao", password: "zhao-password-1")
        let before = try zhao.cockpit()
        XCTAssertTrue(before.contains("id=\"count-open\">"), before)
        XCTAssertEqual(before, try zhaoLite.cockpit())

        // w-li sees her incidents, acknowledges and resolves one; s-zhao closes it.
        let li = try Browser(port: port, worker: "w-li", password: "li-password-1")
        let mine = try li.get("/")
        XCTAssertEqual(mine.status, 200)
        let idText = try XCTUnwrap(mine.body.range(of: "data-incident=\"").map { String(mine.body[$0.upperBound...].prefix { $0.isNumber }) },
                                   "w-li has an open incident: \(mine.body.prefix(400))")
        let id = try XCTUnwrap(Int(idText))
        XCTAssertEqual(try li.post("/incidents/\(id)/ack", []).status, 303)
        XCTAssertEqual(try li.post("/incidents/\(id)/resolve", [("note", "reset the door sensor")]).status, 303)
        let refused = try li.post("/incidents/\(id)/close", [])
        XCTAssertEqual(refused.status, 403, "only a supervisor closes: \(refused.body.prefix(300))")
        XCTAssertEqual(try zhao.post("/incidents/\(id)/close", []).status, 303)
        let page = try zhao.get("/incidents/\(id)")
        XCTAssertTrue(page.body.contains("reset the door sensor"), page.body)

        let show = try CityEyeBinary.run(["show", "\(id)", "--json"] + city.pg)
        XCTAssertEqual(show.code, 0, show.err)
        for (actor, action) in [("w-li", "acknowledged"), ("w-li", "resolved"), ("s-zhao", "closed")] {
            XCTAssertTrue(show.out.contains("\"actor\":\"\(actor)\",\"action\":\"\(action)\""), "\(action): \(show.out)")
        }
        XCTAssertEqual(show.out.components(separatedBy: "\"channel\":\"web\"").count - 1, 3, show.out)
        let verify = try CityEyeBinary.run(["audit", "verify", "--audit-key", city.key] + city.pg)
        XCTAssertEqual(verify.code, 0, verify.out + verify.err)
        XCTAssertTrue(verify.out.contains("audit intact: ") && verify.out.contains("(rows before the chain began: 0)"), verify.out)
        XCTAssertFalse(verify.out.contains("unsealed") || verify.err.contains("without a MAC"), verify.out + verify.err)

        // The same actions on the SQLite store from the command line: both cockpits show the same again.
        for args in [["ack", "\(id)", "--worker", "w-li"], ["resolve", "\(id)", "--worker", "w-li", "--note", "reset the door sensor"],
                     ["close", "\(id)", "--worker", "s-zhao"]] {
            let r = try CityEyeBinary.run(args + ["--db", city.lite])
            XCTAssertEqual(r.code, 0, "\(args): \(r.err)")
        }
        let closed = "data-incident=\"\(id)\" data-status=\"closed\""
        let cockpitPG = try zhao.get("/cockpit?status=all").body
        XCTAssertTrue(cockpitPG.contains(closed), cockpitPG)
        // A drawn cockpit is kept until the server's change feed (a 500 ms poll) sees the next audit row, so the
        // SQLite server shows the command line's changes within a poll, not at once.
        try waitUntil("the SQLite server's change feed saw the commands' changes") {
            try zhaoLite.get("/cockpit?status=all").body.contains(closed) && zhaoLite.cockpit() == zhao.cockpit()
        }
        XCTAssertEqual(try zhao.cockpit(), try zhaoLite.cockpit())

        // /healthz follows the server: 503 while PostgreSQL is down, 200 once it is back (the store connects again).
        try pg.stopServer()
        let down = try LoopbackHTTP.get(port: port, "/healthz")
        XCTAssertEqual(down.status, 503, down.body)
        XCTAssertTrue(down.body.contains("cannot be read"), down.body)
        try pg.start()
        var back = LoopbackHTTP.Answer(status: 0, body: "")
        try waitUntil("/healthz answers 200 again") {
            back = try LoopbackHTTP.get(port: port, "/healthz")
            return back.status == 200
        }
        XCTAssertEqual(try zhao.get("/cockpit").status, 200)
        let output = web.output.joined(separator: "\n")
        XCTAssertFalse(output.contains("not sealed"), output)
        XCTAssertFalse(output.contains(Self.password) || down.body.contains(Self.password), output)
        XCTAssertEqual(web.stop(), 0, output)
    }

    func testAWrongPasswordFileAServerThatIsDownAndAPasswordInTheURLAreClearErrorsWithoutThePassword() throws {
        let folder = try temporaryPath("cityeye-pgserve-bad")
        let url = "postgres://\(pg.user)@127.0.0.1:\(pg.port)/postgres"
        func serve(_ store: String, _ arguments: [String], env: [String: String] = [:]) throws -> CityEyeBinary.Result {
            let config = folder + "/serve.yaml"
            try "listen: 127.0.0.1:0\nstore: \"\(store)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
            return try CityEyeBinary.run(["serve", "--config", config] + arguments, env: env)
        }
        let wrongFile = folder + "/wrong.pw"
        try "not-the-Password-99\n".write(toFile: wrongFile, atomically: true, encoding: .utf8)
        let wrong = try serve(url, ["--db-password-file", wrongFile])
        XCTAssertEqual(wrong.code, 1, wrong.err)
        XCTAssertTrue(wrong.err.contains("password authentication failed"), wrong.err)
        XCTAssertTrue(wrong.err.contains("check the user and the password file"), wrong.err)
        XCTAssertFalse((wrong.out + wrong.err).contains("not-the-Password-99"), wrong.err)

        let missing = try serve(url, ["--db-password-file", folder + "/none.pw"])
        XCTAssertEqual(missing.code, 1, missing.err)
        XCTAssertTrue(missing.err.contains("PostgreSQL password file \(folder)/none.pw: cannot read it"), missing.err)

        let downURL = "postgres://\(pg.user)@127.0.0.1:\(try PostgresServer.unusedPort())/city"
        let down = try serve(downURL, [], env: ["PGPASSWORD": Self.password])
        XCTAssertEqual(down.code, 1, down.err)
        XCTAssertTrue(down.err.contains("PostgreSQL at \(downURL) cannot be reached"), down.err)
        XCTAssertFalse((down.out + down.err).contains(Self.password), down.err)
        XCTAssertFalse(down.out.contains("serving"), down.out)

        let inURL = try serve("postgres://\(pg.user):\(Self.password)@127.0.0.1:\(pg.port)/postgres", [])
        XCTAssertEqual(inURL.code, 1, inURL.err)
        XCTAssertTrue(inURL.err.contains("carries a password"), inURL.err)
        XCTAssertFalse((inURL.out + inURL.err).contains(Self.password), inURL.err)

        // A database the server has, with no City Eye store in it: refused, and nothing is created there.
        let right = folder + "/right.pw"
        try Self.password.write(toFile: right, atomically: true, encoding: .utf8)
        try pg.psql("CREATE DATABASE serve_empty")
        let empty = try serve("postgres://\(pg.user)@127.0.0.1:\(pg.port)/serve_empty", ["--db-password-file", right])
        XCTAssertEqual(empty.code, 1, empty.err)
        XCTAssertTrue(empty.err.contains("no store at postgres://"), empty.err)
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", in: "serve_empty")
            .trimmingCharacters(in: .whitespacesAndNewlines), "0")

        let people = try CityEyeBinary.run(["people", "set-password", "w-li", "--db", downURL], stdin: "long-enough-1\n",
                                           env: ["PGPASSWORD": Self.password])
        XCTAssertEqual(people.code, 1, people.err)
        XCTAssertTrue(people.err.contains("cannot be reached"), people.err)
        XCTAssertFalse((people.out + people.err).contains(Self.password), people.err)

        FileManager.default.createFile(atPath: folder + "/city.db", contents: nil)
        let lite = try serve(folder + "/city.db", ["--db-password-file", right])
        XCTAssertEqual(lite.code, 1, lite.err)
        XCTAssertTrue(lite.err.contains("is an SQLite file, which has no password"), lite.err)
    }
}
