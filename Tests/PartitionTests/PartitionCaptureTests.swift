import XCTest
import Foundation
import TestSupport
import Model
import Store
import PostgresStore

/// `capture_dir` with partitions: each partition's engine keeps what it accepted in the store, in the commit's
/// transaction; `cityeye capture` writes it out as day files, which `cityeye replay` turns into the same incidents.
extension FailoverTests {
    func testAPartitionedCitysCaptureHoldsEachCommittedAlarmOnceAcrossAKillAndReplaysToItsIncidents() throws {
        let city = try city("capture", extraConfig: "capture_dir: capture")
        defer { city.stop() }
        var engines = try ["a", "b"].map { try engine(city, $0) }
        defer { stopAll(engines) }
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])
        XCTAssertTrue(log(city, "a").contains("`cityeye capture --db"), log(city, "a"))
        let n = 3_000
        let done = Flag()
        publish(city, n: n, rate: 1_000, done: done)
        Thread.sleep(forTimeInterval: 1.5)
        // Killed mid-stream: what it took and never committed goes to the partitions' next holder, and is captured
        // there, once.
        kill(engines[1].processIdentifier, SIGKILL)
        engines[1].waitUntilExit()
        engines[1] = try engine(city, "b2")
        try waitUntil("published", timeout: 60) { done.isSet }
        XCTAssertEqual(done.failures, [])
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)

        let status = try CityEyeBinary.run(["status", "--db", "\(city.target)"])
        XCTAssertTrue(status.out.contains("waiting for `cityeye capture"), status.out)
        let out = city.dir + "/exported"
        let first = try CityEyeBinary.run(["capture", "--db", "\(city.target)", "--dir", out])
        XCTAssertEqual(first.code, 0, first.err)
        XCTAssertTrue(first.out.contains("\(n) line(s) written to \(out)"), first.out)
        let files = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".jsonl") }.sorted()
        XCTAssertFalse(files.isEmpty)
        var ids: [String] = []
        for f in files {
            for line in try String(contentsOfFile: out + "/" + f, encoding: .utf8).split(separator: "\n") {
                let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                XCTAssertEqual(o["topic"] as? String, "cityeye/\(String((o["device"] as? String ?? "").prefix { $0 != "-" }))/\(o["device"] as? String ?? "")")
                ids.append(o["id"] as? String ?? "")
            }
        }
        XCTAssertEqual(ids.count, n, "one line an accepted alarm")
        XCTAssertEqual(Set(ids), Set((0..<n).map { "a-\($0)" }), "each alarm once")

        // The day files replay into the city's incidents.
        let replay = try CityEyeBinary.run(["replay"] + files.map { out + "/" + $0 } + ["--rules", Repo.scenarios.path,
                                            "--registry", city.dir + "/registry.yaml", "--db", city.dir + "/replayed.db", "--quiet"])
        XCTAssertEqual(replay.code, 0, replay.err)
        let replayed = try Store(path: city.dir + "/replayed.db", create: false)
        defer { replayed.close() }
        let byDevice = try replayed.incidents().reduce(into: [String: Int64]()) { $0[$1.device, default: 0] += $1.count }
        XCTAssertEqual(byDevice, try counts(city).byDevice)

        let again = try CityEyeBinary.run(["capture", "--db", "\(city.target)", "--dir", out])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertTrue(again.out.contains("nothing new"), again.out)
        XCTAssertEqual(try pg.psql("SELECT count(*) FROM capture_line", in: city.target.database).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let after = try CityEyeBinary.run(["status", "--db", "\(city.target)", "--json"])
        XCTAssertTrue(after.out.contains("\"capture_waiting_rows\":0"), after.out)

        // An SQLite store has no capture to write out, nor has a database that is no store.
        let sqlite = try CityEyeBinary.run(["capture", "--db", city.dir + "/replayed.db", "--dir", out])
        XCTAssertEqual(sqlite.code, 1)
        XCTAssertTrue(sqlite.err.contains("writes its capture to capture_dir itself"), sqlite.err)
        _ = try pg.psql("CREATE DATABASE capture_other")
        let other = try CityEyeBinary.run(["capture", "--db", "postgres://\(pg.user)@127.0.0.1:\(pg.port)/capture_other", "--dir", out])
        XCTAssertEqual(other.code, 1, "a database that is no City Eye store")
        XCTAssertTrue(other.err.contains("capture_other"), other.err)
    }
}

extension FailoverTests {
    /// `{hash: N}` over fewer communities than buckets leaves partitions with nothing to do: an engine says so once
    /// for each, takes no lease for them round after round, and runs the others.
    func testAHashedPartitionWithNoCommunityIsSaidOnceAndNotTaken() throws {
        let city = try city("emptyhash")
        defer { city.stop() }
        let config = try String(contentsOfFile: city.dir + "/cityeye.yaml", encoding: .utf8)
        let hashed = String(config[..<config.range(of: "partitions:")!.lowerBound]) + "partitions: {hash: 12}\n"
        try hashed.write(toFile: city.dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let engine = try engine(city, "a")
        defer { stopAll([engine]) }
        try waitUntil("a runs its partitions", timeout: 30) { log(city, "a").contains(": ready, subscribed") }
        Thread.sleep(forTimeInterval: 3.5)  // three more rounds of the runner
        let lines = log(city, "a").split(separator: "\n").filter { $0.contains("no registered community belongs to it") }
        let empty = Set(lines.map { String($0.split(separator: " ")[2].dropLast()) })
        XCTAssertFalse(empty.isEmpty, log(city, "a"))
        XCTAssertEqual(lines.count, empty.count, "said once each: \(lines)")
        for p in empty {
            XCTAssertFalse(log(city, "a").contains("partition \(p): lease"), "no lease taken for \(p)")
        }
        let leases = try pg.psql("SELECT count(*) FROM partition_lease WHERE partition NOT IN ('\(empty.joined(separator: "','"))')",
                                 in: city.target.database).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(Int(leases), 12 - empty.count + 1, "a lease row for each partition with communities, and keyed")
    }
}
