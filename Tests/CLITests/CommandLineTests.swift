import XCTest
import Foundation
import TestSupport

extension CLITests {
    func testVersionAndATypoedCommandSuggestsTheRightOne() throws {
        let v = try cityeye(["--version"])
        XCTAssertEqual(v.code, 0)
        XCTAssertNotNil(v.out.range(of: #"^\d+\.\d+\.\d+"#, options: .regularExpression), v.out)
        let typo = try cityeye(["incidnets", "--db", db])
        XCTAssertEqual(typo.code, 2, "bad usage")
        XCTAssertTrue(typo.err.contains("did you mean 'incidents'"), typo.err)
        let far = try cityeye(["frobnicate"])
        XCTAssertEqual(far.code, 2)
        XCTAssertFalse(far.err.contains("did you mean"), "nothing close: no guess")
    }
}

extension CLITests {
    func testClosingAClosedIncidentSaysSoAndAReopenSaysReopened() throws {
        XCTAssertEqual(try replayBasic().code, 0)
        XCTAssertEqual(try cityeye(["ack", "1", "--worker", "w-li", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["resolve", "1", "--worker", "w-li", "--note", "done", "--db", db]).code, 0)
        XCTAssertEqual(try cityeye(["close", "1", "--worker", "s-zhao", "--db", db]).code, 0)
        let again = try cityeye(["close", "1", "--worker", "s-zhao", "--db", db])
        XCTAssertEqual(again.code, 1)
        XCTAssertTrue(again.err.contains("already closed"), again.err)
        let reopen = try cityeye(["reopen", "1", "--worker", "s-zhao", "--note", "rang again", "--db", db])
        XCTAssertEqual(reopen.code, 0, reopen.err)
        XCTAssertTrue(reopen.out.contains("incident 1 reopened"), reopen.out)
    }
}

extension CLITests {
    /// Partitions are shared by several engines through one PostgreSQL store: on an SQLite file (one engine's) they
    /// are refused before anything starts, and a PostgreSQL store without partitions is refused by the config.
    func testRunRefusesPartitionsOnAnSQLiteStoreAndPostgresWithoutPartitions() throws {
        let d = try temporaryPath("partitioned")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try "communities: []\n".write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try "broker: {host: 127.0.0.1, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: x.db\npartitions: {hash: 2}\n"
            .write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let r = try cityeye(["run", "--config", d + "/cityeye.yaml"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("`partitions:` are shared by several engines through one PostgreSQL store: set `store: postgres://"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/x.db"), "nothing started")
        try "broker: {host: 127.0.0.1, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: postgres://cityeye@127.0.0.1:1/city\n"
            .write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let pg = try cityeye(["run", "--config", d + "/cityeye.yaml"])
        XCTAssertEqual(pg.code, 1, pg.err)
        XCTAssertTrue(pg.err.contains("cityeye.yaml:4"), pg.err)
        XCTAssertTrue(pg.err.contains("a PostgreSQL store (postgres://…) is for engines that share a city by partitions: add `partitions:`"), pg.err)
        // The partition options on a one-engine config are refused, not ignored.
        try "broker: {host: 127.0.0.1, port: 1883}\nregistry: registry.yaml\nrules: rules\nstore: x.db\n"
            .write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let named = try cityeye(["run", "--config", d + "/cityeye.yaml", "--partitions", "p0"])
        XCTAssertEqual(named.code, 1, named.err)
        XCTAssertTrue(named.err.contains("--partitions p0: \(d)/cityeye.yaml has no `partitions:`"), named.err)
        let password = try cityeye(["run", "--config", d + "/cityeye.yaml", "--db-password-file", d + "/pw"])
        XCTAssertEqual(password.code, 1, password.err)
        XCTAssertTrue(password.err.contains("is an SQLite file, which has no password"), password.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/x.db"), "nothing started")
    }

    /// A listed plan that leaves a registered community in no partition is refused first, naming the community.
    func testRunRefusesPartitionsThatLeaveACommunityUnowned() throws {
        let d = try temporaryPath("unowned")
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try RegistryFixtures.twoCommunities.write(toFile: d + "/registry.yaml", atomically: true, encoding: .utf8)
        try """
        broker: {host: 127.0.0.1, port: 1883}
        registry: registry.yaml
        rules: rules
        store: x.db
        partitions:
          - id: east
            communities: [changzhengqiao]
        """.write(toFile: d + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let r = try cityeye(["run", "--config", d + "/cityeye.yaml"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("leaves a registered community in no partition, so nobody would hear their gateways: wenhui"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/x.db"), "nothing started")
    }
}
