import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Rules
import Store
import Lease
@testable import Engine
@testable import PostgresStore

/// What `cityeye serve` and `cityeye people` read and write (`WebStore`) answers the same from PostgreSQL as from
/// SQLite after the same replay: the cockpit's counts, chart and scenarios, the change feed's notices, the accounts.
final class PostgresWebStoreTests: PostgresTestCase {
    /// Everything the web app reads of one community, as a value the two stores must agree on.
    func cockpitReads(_ s: any WebStore, community: String, through: Int64) throws -> [String] {
        var out: [String] = []
        let newest = try s.newestFirstSeen(community: community)
        out.append("newest \(newest.map { "\($0.ms)" } ?? "none")")
        for status in ["open", "all", "resolved", "closed"] {
            var f = IncidentFilter(community: community)
            switch status {
            case "open": f.notClosed = true
            case "all": break
            default: f.status = IncidentStatus(rawValue: status)
            }
            out.append("count \(status) \(try s.incidentCount(f))")
            f.newestFirst = true
            f.limit = 5
            out.append("list \(status) \(try s.incidents(f).map(\.id))")
        }
        out.append("open \(try s.incidentCount(IncidentFilter(community: community, openOnly: true)))")
        for scenario in try s.scenarios(community: community, through: .max) {
            out.append("count scenario \(scenario) \(try s.incidentCount(IncidentFilter(scenario: scenario, community: community)))")
        }
        out.append("scenarios \(try s.scenarios(community: community, through: .max))")
        out.append("scenarios through \(through) \(try s.scenarios(community: community, through: through))")
        if let newest {
            let start = Instant(ms: newest.ms - 167 * Durations.hour)
            let counts = try s.raisedPerHour(community: community, start: start, hours: 168, through: .max)
            out.append("per hour \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })")
            let cut = try s.raisedPerHour(community: community, start: start, hours: 168, through: through)
            out.append("per hour through \(cut.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" })")
        }
        out.append("raised \(try s.raised(community: community, after: through, through: .max).map { "\($0.scenario)@\($0.firstSeen.ms)" })")
        return out
    }

    func testTheWebAppsReadsAnswerTheSameFromPostgreSQLAsFromSQLiteForEveryScenario() throws {
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        var compared = 0
        for scenario in try ScenarioLog.all() {
            let registry = try RegistryLoader.load(path: scenario.registryPath)
            let log = scenario.folder.appendingPathComponent(scenario.file).path
            let lite = try Store(path: try temporaryPath("cityeye-pgweb") + "/store.db")
            _ = try Replay.run(try Pipeline(registry: registry, rules: rules, store: lite), files: [log])
            let pgStore = try PostgresStore(target: try newDatabase())
            _ = try Replay.run(try Pipeline(registry: registry, rules: rules, store: pgStore), files: [log])
            let through = try lite.maxIncidentID() / 2
            XCTAssertEqual(try pgStore.maxIncidentID(), try lite.maxIncidentID(), scenario.name)
            for community in registry.communities.keys.sorted() {
                let expected = try cockpitReads(lite, community: community, through: through)
                XCTAssertEqual(try cockpitReads(pgStore, community: community, through: through), expected, "\(scenario.name) \(community)")
                if try lite.incidentCount(IncidentFilter(community: community)) > 0 { compared += 1 }
            }
            let last = try lite.lastAuditRow()
            XCTAssertEqual(try pgStore.lastAuditRow(), last, scenario.name)
            for (after, limit) in [(Int64(0), 1_000), (0, 3), (last / 2, 1_000), (last, 10)] {
                let notices = try lite.workNotices(after: after, upTo: last, limit: limit)
                XCTAssertEqual(try pgStore.workNotices(after: after, upTo: last, limit: limit), notices, "\(scenario.name) after \(after)")
                XCTAssertLessThanOrEqual(notices.count, limit)
                XCTAssertEqual(notices.map(\.row), notices.map(\.row).sorted(), "oldest first")
            }
            XCTAssertFalse(try lite.workNotices(after: 0, upTo: last, limit: 1_000).isEmpty, "\(scenario.name): incidents were dispatched")
            lite.close()
            pgStore.close()
        }
        XCTAssertGreaterThanOrEqual(compared, 8, "every scenario's community has incidents to compare")
    }

    func testAccountsAreSavedReplacedAndListedByWorkerAsInSQLite() throws {
        let pgStore = try PostgresStore(target: try newDatabase())
        defer { pgStore.close() }
        let lite = try Store(path: try temporaryPath("cityeye-pgweb") + "/store.db")
        defer { lite.close() }
        let writes = [
            AccountRecord(worker: "w-wang", passwordHash: "$2b$04$first", setAt: Instant(ms: 1_000), setBy: "root"),
            AccountRecord(worker: "s-zhao", passwordHash: "$2b$04$zhao", setAt: Instant(ms: 2_000), setBy: "ops"),
            AccountRecord(worker: "W-Li", passwordHash: "$2b$04$li", setAt: Instant(ms: 3_000), setBy: "ops"),
            AccountRecord(worker: "w-wang", passwordHash: "$2b$04$second", setAt: Instant(ms: 4_000), setBy: "admin"),
        ]
        for s in [pgStore, lite] as [any WebStore] {
            XCTAssertNil(try s.account(worker: "w-wang"))
            XCTAssertEqual(try s.accounts(), [])
            for a in writes { try s.saveAccount(a) }
        }
        XCTAssertEqual(try pgStore.accounts(), try lite.accounts())
        XCTAssertEqual(try pgStore.accounts().map(\.worker), ["W-Li", "s-zhao", "w-wang"], "byte order, as SQLite")
        XCTAssertEqual(try pgStore.account(worker: "w-wang"), writes[3], "the later password replaced the first")
        XCTAssertNil(try pgStore.account(worker: "w-li"), "ids are case-sensitive")

        // A store opened again (a v3 schema already there) keeps them; the ownership check accepts the table.
        let again = try PostgresStore(target: pgStore.target, create: false)
        defer { again.close() }
        XCTAssertEqual(try again.accounts().count, 3)
    }

    func testAStoreThatReconnectsAnswersAgainAfterTheServerRestartedAndOneThatDoesNotStaysBroken() throws {
        let target = try newDatabase()
        let web = try PostgresStore(target: target, reconnects: true)
        defer { web.close() }
        // (Its statement on the lost connection goes unanswered: a short timeout keeps the test short.)
        let plain = try PostgresStore(target: target, queryTimeout: .seconds(2))
        defer { plain.close() }
        try web.saveAccount(AccountRecord(worker: "w-li", passwordHash: "h", setAt: Instant(ms: 1), setBy: "t"))
        XCTAssertEqual(try plain.accounts().count, 1)
        try pg.stopServer()
        let stopped = Date()
        XCTAssertThrowsError(try web.lastAuditRow(), "no server: an error, not a hang") { error in
            XCTAssertTrue("\(error)".contains("cannot be reached"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 10)
        try pg.start()
        XCTAssertEqual(try web.accounts().count, 1, "connected again")
        XCTAssertEqual(try web.lastAuditRow(), 0)
        XCTAssertThrowsError(try plain.accounts(), "a store without `reconnects` does not come back by itself")
    }
}
