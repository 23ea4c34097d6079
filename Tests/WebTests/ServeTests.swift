import XCTest
import Model
import Store
import Closedloop
import Web

final class ServeTests: XCTestCase {
    var f: Fixture!
    override func setUpWithError() throws { f = try Fixture(for: self) }

    func write(_ yaml: String) throws -> String {
        let path = f.folder.appendingPathComponent("serve.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testConfigReadsEveryKeyWithPathsRelativeToItsFolder() throws {
        let c = try ServeConfig.load(path: write("""
        listen: 0.0.0.0:8088
        store: x.db
        language: en
        session_idle_minutes: 30
        secure_cookies: true
        """))
        XCTAssertEqual(c.host, "0.0.0.0")
        XCTAssertEqual(c.port, 8088)
        XCTAssertEqual(c.store, f.path)
        XCTAssertEqual(c.language, .en)
        XCTAssertEqual(c.sessionIdleMinutes, 30)
        XCTAssertTrue(c.secureCookies)
    }

    func testAPostgreSQLStoreIsTakenAsAURLNotAFileBesideTheConfig() throws {
        let c = try ServeConfig.load(path: write("listen: 127.0.0.1:0\nstore: postgres://cityeye@db.city.example:5432/city\n"))
        XCTAssertEqual(c.store, "postgres://cityeye@db.city.example:5432/city", "not made relative to the config's folder")
        XCTAssertTrue(c.storeIsPostgres)
        XCTAssertFalse(try ServeConfig.load(path: write("listen: 127.0.0.1:0\nstore: x.db\n")).storeIsPostgres)
    }

    func testConfigErrorsNameTheKey() throws {
        let cases = [
            ("listen: 127.0.0.1:8080\nstore: x.db\nbroker: {host: x}\n", "broker"),
            ("store: x.db\n", "listen"),
            ("listen: 8080\nstore: x.db\n", "listen"),
            ("listen: 127.0.0.1:8080\nstore: nowhere.db\n", "no store"),
            ("listen: 127.0.0.1:8080\nstore: x.db\nlanguage: fr\n", "language"),
        ]
        for (yaml, word) in cases {
            XCTAssertThrowsError(try ServeConfig.load(path: write(yaml)), yaml) { error in
                XCTAssertTrue("\(error)".contains(word), "\(error)")
            }
        }
    }

    func testChangeFeedNoticesAnotherConnectionsWrite() throws {
        let feed = ChangeFeed(store: f.store)
        let before = feed.latest
        XCTAssertGreaterThan(before, 0)
        let other = try Store(path: f.path, create: false)
        defer { other.close() }
        _ = try PeopleActionsFixture.resolve(f, 1, at: Fixture.t0, store: other)
        XCTAssertEqual(feed.latest, before, "not before it polls")
        feed.poll()
        XCTAssertEqual(feed.latest, before + 1)
    }
}

enum PeopleActionsFixture {
    /// w-li resolves one of her incidents from the command line.
    static func resolve(_ f: Fixture, _ id: Int64, at: Instant, store: Store? = nil) throws -> Incident {
        try PeopleActions.perform(.resolve(note: "done"), on: id, by: .commandLine(worker: "w-li"), registry: f.registry,
                                  store: store ?? f.store, at: at)
    }
}
