import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Lease
import PostgresStore
import Live

/// Several real `cityeye run` processes sharing a city (docs/scale.md): PostgreSQL, mosquitto, partitions by
/// community, simulated smoke detectors (every alarm adds 1 to its device's incident count, so the counts are the
/// publisher's ledger). An engine killed with -9, or frozen past its lease, loses nothing and counts nothing twice:
/// the others take its partitions, the broker hands them what it kept, and the frozen one commits nothing after.
/// The longer form with figures (10 kills, failover times, the ledger) is scripts/partition-bench.sh.
final class FailoverTests: PostgresTestCase {
    static let binary = CityEyeBinary.url.path
    static let communities = (1...6).map { "c\($0)" }
    static let detectorsEach = 10

    struct City {
        let dir: String
        let target: PostgresTarget
        let broker: MosquittoBroker
        /// The district broker of c4–c6 (partitions p3–p5), when the city has two.
        let second: MosquittoBroker?
        func broker(of community: String) -> MosquittoBroker {
            guard let second, ["c4", "c5", "c6"].contains(community) else { return broker }
            return second
        }
        func stop() { broker.stop(); second?.stop() }
        var devices: [(community: String, device: String)] {
            FailoverTests.communities.flatMap { c in (1...FailoverTests.detectorsEach).map { (c, "\(c)-sd-\($0)") } }
        }
    }

    /// A city of six communities, one partition each; with `twoBrokers`, p3–p5 (c4–c6) on a second mosquitto.
    func city(_ name: String, twoBrokers: Bool = false, extraConfig: String = "") throws -> City {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built (swift build --build-tests builds it)")
        }
        _ = try pg.psql("CREATE DATABASE \(name)")
        let target = try PostgresTarget.parse("postgres://\(pg.user)@127.0.0.1:\(pg.port)/\(name)")
        let trace = ProcessInfo.processInfo.environment["CITYEYE_BROKER_TRACE"] != nil ? "log_type all" : ""
        let broker = try MosquittoBroker(extraConfig: trace)
        let second = twoBrokers ? try MosquittoBroker(extraConfig: trace) : nil
        let dir = try temporaryPath("cityeye-\(name)")
        // The engines' logs outlive a failed test (the folder does not): /tmp/cityeye-failover-logs/<name>/.
        addTeardownBlock { [weak self] in
            guard (self?.testRun?.failureCount ?? 0) > 0 else { return }
            let keep = NSTemporaryDirectory() + "cityeye-failover-logs/\(name)"
            try? FileManager.default.removeItem(atPath: keep)
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasSuffix(".log") {
                try? FileManager.default.copyItem(atPath: dir + "/" + f, toPath: keep + "/" + f)
            }
            try? FileManager.default.copyItem(atPath: broker.folder + "/mosquitto.log", toPath: keep + "/mosquitto.log")
        }
        var registry = ["communities:"] + Self.communities.map { "  - {id: \($0), name: \($0), timezone: Asia/Shanghai}" }
        registry += ["grids:"] + Self.communities.map { "  - {id: \($0)-g1, community: \($0), name: G1}" }
        registry += ["workers:"] + Self.communities.flatMap {
            ["  - {id: w-\($0), name: W \($0), grid: \($0)-g1, role: worker}", "  - {id: s-\($0), name: S \($0), community: \($0), role: supervisor}"]
        }
        registry += ["devices:"] + Self.communities.flatMap { c in
            (1...Self.detectorsEach).map { "  - {id: \(c)-sd-\($0), type: smoke_detector, community: \(c), grid: \(c)-g1}" }
                + ["  - {id: \(c)-venue, type: footfall_cam, community: \(c), grid: \(c)-g1, subject: \(c)-shop, attrs: {flagged: true}}"]
        }
        try registry.joined(separator: "\n").write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        try ("""
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: city, keepalive_s: 5}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: \(target)
        audit_key_file: audit-key
        \(extraConfig)
        partitions:

        """ + Self.communities.enumerated().map { p in
            let own = p.offset >= 3 ? second.map { ", broker: {port: \($0.port)}" } ?? "" : ""
            return "  - {id: p\(p.offset), communities: [\(p.element)]\(own)}"
        }.joined(separator: "\n") + "\n")
            .write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return City(dir: dir, target: target, broker: broker, second: second)
    }

    /// Starts `cityeye run` on the city's config; `name` names its log (`<dir>/<name>.log`).
    func engine(_ city: City, _ name: String, _ extra: [String] = []) throws -> Process {
        let log = city.dir + "/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run", "--config", city.dir + "/cityeye.yaml", "--stats-every", "0"] + extra
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = p.standardOutput
        try p.run()
        return p
    }

    /// Six partitions by community, and `keyed`, which owns the scenarios' rules keyed across communities.
    static let partitionCount = 7

    /// How many partitions hold an unexpired lease of an engine other than `excluding` (an engine id).
    func held(_ city: City, excluding: String? = nil) throws -> Int {
        let others = excluding.map { " AND holder <> '\($0)'" } ?? ""
        // No table yet: no engine has prepared the lease table, so nothing is held.
        guard let text = try? pg.psql("SELECT count(*) FROM partition_lease WHERE holder IS NOT NULL AND expires_at > now()\(others)",
                                      in: city.target.database) else { return 0 }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Waits until every partition's broker session has subscribed once (its persistent session exists): the broker
    /// keeps what is published from then on, whoever holds the partition, and drops what comes before (nobody
    /// subscribed to it) — as it would for gateways that publish before the city's engines first started.
    func waitUntilEveryPartitionSubscribed(_ city: City, _ names: [String]) throws {
        try waitUntil("every partition subscribed", timeout: 30) {
            var ready = Set<String>()
            for name in names {
                for line in log(city, name).split(separator: "\n") where line.contains(": ready, subscribed") {
                    if let r = line.range(of: "partition "), let end = line.range(of: ":", range: r.upperBound..<line.endIndex) {
                        ready.insert(String(line[r.upperBound..<end.lowerBound]))
                    }
                }
            }
            return ready.count == Self.partitionCount
        }
    }

    /// The engine id an engine's log names on its `running` line.
    func engineID(_ city: City, _ name: String) throws -> String {
        var id = ""
        try waitUntil("\(name) names its engine id") {
            let first = log(city, name).split(separator: "\n").first { $0.contains(": running ") }.map(String.init) ?? ""
            guard let r = first.range(of: "engine "), let end = first.range(of: ":", range: r.upperBound..<first.endIndex) else { return false }
            id = String(first[r.upperBound..<end.lowerBound])
            return true
        }
        return id
    }

    func log(_ city: City, _ name: String) -> String {
        (try? String(contentsOfFile: city.dir + "/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Publishes `n` smoke alarms at `rate` a second, round-robin over the city's detectors, each to its community's
    /// broker, on its own thread. Returns the alarms in the order they are published (a one-engine replay's log).
    @discardableResult
    func publish(_ city: City, n: Int, rate: Double, done: Flag) -> [String] {
        let devices = city.devices
        let ports = devices.map { city.broker(of: $0.community).port }
        let ts = RFC3339.format(SystemClock().now())
        @Sendable func alarm(_ i: Int) -> String {
            "{\"id\":\"a-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(devices[i % devices.count].device)\",\"type\":\"smoke.alarm\",\"data\":{}}"
        }
        Thread.detachNewThread {
            defer { done.set() }
            var publishers: [Int: MQTTPublisher] = [:]
            for port in Set(ports) {
                guard let p = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gateways", cleanSession: true, topics: [])),
                      (try? p.connect()) != nil else { done.failed("cannot connect to the broker on \(port)"); return }
                publishers[port] = p
            }
            let start = Date()
            for i in 0..<n {
                let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                let (c, d) = devices[i % devices.count]
                do { try publishers[ports[i % devices.count]]!.publish(topic: "cityeye/\(c)/\(d)", payload: Array(alarm(i).utf8), qos: 1) } catch {
                    done.failed("publish a-\(i): \(error)")
                }
            }
            for p in publishers.values {
                do { try p.waitForAcks(timeout: 60) } catch { done.failed("waiting for the broker's acknowledgements: \(error)") }
                p.disconnect()
            }
        }
        return (0..<n).map(alarm)
    }

    /// The partitioned city's incidents equal a one-engine replay's of the same alarms in publishing order (into
    /// SQLite): the same rule, key, device, count, status and assignee for each (ids may differ: partitions commit
    /// in their own order).
    func assertSameIncidentsAsOneEngineReplay(_ city: City, _ alarms: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try alarms.joined(separator: "\n").write(toFile: city.dir + "/alarms.jsonl", atomically: true, encoding: .utf8)
        let r = try CityEyeBinary.run(["replay", city.dir + "/alarms.jsonl", "--rules", Repo.scenarios.path, "--registry",
                                       city.dir + "/registry.yaml", "--db", city.dir + "/one.db", "--quiet"])
        XCTAssertEqual(r.code, 0, r.err, file: file, line: line)
        func rows(_ incidents: [Incident]) -> [String] {
            incidents.map { "\($0.rule) \($0.key) \($0.device) \($0.count) \($0.status.rawValue) \($0.assignee)" }.sorted()
        }
        let one = try Store(path: city.dir + "/one.db", create: false)
        defer { one.close() }
        let store = try PostgresStore(target: city.target, create: false)
        defer { store.close() }
        let expected = rows(try one.incidents())
        XCTAssertEqual(expected.count, city.devices.count, file: file, line: line)
        XCTAssertEqual(rows(try store.incidents()), expected, "the incidents of one engine", file: file, line: line)
    }

    /// Each device's incident count in the store, summed over its incidents, and the number of incidents.
    func counts(_ city: City) throws -> (byDevice: [String: Int64], incidents: Int) {
        let store = try PostgresStore(target: city.target, create: false)
        defer { store.close() }
        let all = try store.incidents()
        return (all.reduce(into: [:]) { $0[$1.device, default: 0] += $1.count }, all.count)
    }

    func waitForAll(_ city: City, n: Int) throws {
        var total: Int64 = 0
        try waitUntil("all \(n) alarms counted (so far \(total))", timeout: 90) {
            total = ((try? counts(city))?.byDevice.values.reduce(0, +)) ?? 0
            return total >= Int64(n)
        }
        // Nothing more arrives late (a message counted twice would).
        Thread.sleep(forTimeInterval: 2)
    }

    func assertEachAlarmCountedOnce(_ city: City, n: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let (byDevice, incidents) = try counts(city)
        if byDevice.values.reduce(0, +) != Int64(n) {
            // What each partition committed as processed (12 bytes a message), to tell a message never taken from one
            // taken and then miscounted.
            let processed = (try? pg.psql("SELECT part, sum(length(keys)) / 12 FROM processed_batch GROUP BY part ORDER BY part",
                                          in: city.target.database)) ?? "?"
            print("processed by partition:\n\(processed)")
        }
        let each = Int64(n / city.devices.count)
        XCTAssertEqual(byDevice.values.reduce(0, +), Int64(n), "every alarm counted exactly once", file: file, line: line)
        XCTAssertEqual(byDevice.count, city.devices.count, file: file, line: line)
        XCTAssertTrue(byDevice.values.allSatisfy { $0 == each }, "each device \(each) alarms: \(byDevice.filter { $0.value != each })",
                      file: file, line: line)
        XCTAssertEqual(incidents, city.devices.count, "one incident a device, none raised twice", file: file, line: line)
    }

    /// SIGTERM to each engine still running; one that has not exited 20 s later is killed and the test fails.
    func stopAll(_ engines: [Process], file: StaticString = #filePath, line: UInt = #line) {
        for e in engines where e.isRunning { e.terminate() }
        let deadline = Date().addingTimeInterval(20)
        for e in engines {
            while e.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if e.isRunning {
                XCTFail("engine \(e.processIdentifier) did not stop within 20 s of SIGTERM", file: file, line: line)
                kill(e.processIdentifier, SIGKILL)
            }
            e.waitUntilExit()
        }
    }

    /// Three engines, six partitions on two brokers (and `keyed` on both); one engine killed with -9 mid-stream and
    /// started again later.
    func testAKilledEnginesPartitionsAreTakenOverAndNothingIsLostOrCountedTwice() throws {
        let city = try city("killed", twoBrokers: true)
        defer { city.stop() }
        var engines = try ["a", "b", "c"].map { try engine(city, $0) }
        defer { stopAll(engines) }
        let dead = try engineID(city, "b")
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b", "c"])
        let n = 7_200
        let done = Flag()
        let alarms = publish(city, n: n, rate: 900, done: done)
        Thread.sleep(forTimeInterval: 2.5)
        kill(engines[1].processIdentifier, SIGKILL)
        engines[1].waitUntilExit()
        let killedAt = Date()
        // The survivors take b's partitions once its lease expires.
        try waitUntil("b's partitions taken over", timeout: 30) { try held(city, excluding: dead) == Self.partitionCount }
        let failover = Date().timeIntervalSince(killedAt)
        XCTAssertLessThan(failover, 15, "lease 6 s, roster 6 s, rounds of 1 s")
        engines[1] = try engine(city, "b2")
        try waitUntil("published", timeout: 60) { done.isSet }
        XCTAssertEqual(done.failures, [], "the publisher handed every alarm to the broker")
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)
        try assertSameIncidentsAsOneEngineReplay(city, alarms)
        // The restarted engine got its share back.
        try waitUntil("b2 holds partitions again", timeout: 20) { log(city, "b2").contains("taken;") }
        stopAll(engines)
        for name in ["a", "c", "b2"] {
            XCTAssertTrue(log(city, name).contains("every partition given back"), "\(name): \(log(city, name))")
        }
    }

    /// An engine frozen (SIGSTOP) past its leases, then woken: the others took its partitions meanwhile, and it
    /// commits nothing more for them — every alarm is still counted exactly once.
    func testAnEngineFrozenPastItsLeasesCommitsNothingAfter() throws {
        let city = try city("frozen")
        defer { city.stop() }
        let engines = try ["a", "b"].map { try engine(city, $0) }
        defer {
            for e in engines where e.isRunning { kill(e.processIdentifier, SIGCONT) }
            stopAll(engines)
        }
        let frozen = try engineID(city, "a")
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntil("a holds partitions", timeout: 30) { log(city, "a").contains("taken;") }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])
        let n = 4_800
        let done = Flag()
        publish(city, n: n, rate: 800, done: done)
        Thread.sleep(forTimeInterval: 1.5)
        kill(engines[0].processIdentifier, SIGSTOP)
        try waitUntil("a's partitions taken by b", timeout: 30) { try held(city, excluding: frozen) == Self.partitionCount }
        kill(engines[0].processIdentifier, SIGCONT)
        // Woken, it lets its partitions go: the keeper says the leases are lost, or a commit (its transaction ended by
        // the server meanwhile) or the broker connection (dropped by the broker) fails first.
        try waitUntil("a lets its partitions go", timeout: 20) {
            let l = log(city, "a")
            return l.contains("lease lost") || l.contains("a commit failed") || l.contains("the broker connection dropped")
        }
        XCTAssertFalse(log(city, "a").contains("audit rows are written unsealed"), log(city, "a"))
        try waitUntil("published", timeout: 60) { done.isSet }
        XCTAssertEqual(done.failures, [], "the publisher handed every alarm to the broker")
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)
        stopAll(engines)
        XCTAssertEqual(engines.map(\.terminationStatus), [0, 0], log(city, "a"))
    }

    /// PostgreSQL restarted mid-stream: the engines' commits and lease renewals fail meanwhile, their partitions are
    /// let go (nothing uncommitted was acknowledged) and taken again once the server is back; nothing is lost.
    func testPostgreSQLRestartedMidStreamLosesNothing() throws {
        let city = try city("pgrestart")
        let engines = try ["a", "b"].map { try engine(city, $0) }
        defer { stopAll(engines); city.stop() }
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])
        let n = 4_800
        let done = Flag()
        publish(city, n: n, rate: 800, done: done)
        Thread.sleep(forTimeInterval: 1.5)
        try pg.restart()
        try waitUntil("published", timeout: 60) { done.isSet }
        XCTAssertEqual(done.failures, [])
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)
        XCTAssertTrue(engines.allSatisfy(\.isRunning), "the engines waited the restart out")
        let logs = log(city, "a") + log(city, "b")
        XCTAssertTrue(logs.contains("cannot be reached") || logs.contains("did not answer") || logs.contains("lease lost"), logs)
    }

    /// PostgreSQL not running when the engine starts: it says so once, naming the server, keeps trying, and stops
    /// cleanly when asked meanwhile.
    func testPostgreSQLDownAtStartIsSaidAndRetried() throws {
        let city = try city("down")
        defer { city.stop() }
        let port = try PostgresServer.unusedPort()
        let config = try String(contentsOfFile: city.dir + "/cityeye.yaml", encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:\(pg.port)", with: "127.0.0.1:\(port)")
        try config.write(toFile: city.dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let e = try engine(city, "a")
        defer { stopAll([e]) }
        try waitUntil("the engine says PostgreSQL cannot be reached", timeout: 30) {
            log(city, "a").contains("cannot prepare the lease table (PostgreSQL at postgres://cityeye@127.0.0.1:\(port)/down")
        }
        Thread.sleep(forTimeInterval: 3)
        XCTAssertTrue(e.isRunning, "it keeps trying")
        XCTAssertEqual(log(city, "a").components(separatedBy: "cannot prepare the lease table").count - 1, 1, "said once: \(log(city, "a"))")
        stopAll([e])
        XCTAssertEqual(e.terminationStatus, 0, log(city, "a"))
    }

    /// `health_marketing.repeat-visitor` counts a person's days at flagged venues in any community (keyed by
    /// `data.person`): with partitions by community, the partition `keyed` alone evaluates it and hears every
    /// community, so visits in two partitions' communities give the incident one engine gives on the same traffic.
    func testRulesKeyedAcrossCommunitiesGiveTheIncidentsOfOneEngine() throws {
        let city = try city("keyed")
        defer { city.stop() }
        let engines = try ["a", "b"].map { try engine(city, $0, ["--stats-every", "1s"]) }
        defer { stopAll(engines) }
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        // The partition keyed hears only the venues (the devices with the `flagged` its rule reads).
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])
        XCTAssertTrue((log(city, "a") + log(city, "b")).contains("partition keyed: ready, subscribed to 6 filter(s)"))
        // One elderly visitor, three days, venues in c1 and c2 (partitions p0 and p1); another visits c3 twice only.
        let now = SystemClock().now()
        let visits: [(community: String, person: String, daysAgo: Int64)] = [
            ("c1", "p-7", 2), ("c2", "p-7", 1), ("c1", "p-7", 0), ("c3", "p-8", 1), ("c3", "p-8", 0),
        ]
        var lines: [String] = []
        let pub = try MQTTPublisher(settings: MQTTSettings(port: city.broker.port, clientID: "venues", cleanSession: true, topics: []))
        try pub.connect()
        for (i, v) in visits.enumerated() {
            let ts = RFC3339.format(now - v.daysAgo * 86_400_000)
            let body = "{\"id\":\"v-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(v.community)-venue\",\"type\":\"venue.visit\",\"data\":{\"person\":\"\(v.person)\",\"elderly\":true}}"
            try pub.publish(topic: "cityeye/\(v.community)/\(v.community)-venue", payload: Array(body.utf8), qos: 1)
            lines.append(body)
        }
        // Messages the partition `keyed` does not hear or leaves to the community partitions: a smoke alarm (no rule of
        // its listens to it), a visit of a device not in the registry and a payload that is not JSON (each dead-lettered
        // once, by c2's partition), and a visit reported by a smoke detector, which has no `flagged`: c2's partition
        // counts that evaluation not applicable, as one engine does.
        let alarm = "{\"id\":\"s-1\",\"ts\":\"\(RFC3339.format(now))\",\"device\":\"c2-sd-1\",\"type\":\"smoke.alarm\",\"data\":{}}"
        let stranger = "{\"id\":\"v-x\",\"ts\":\"\(RFC3339.format(now))\",\"device\":\"c2-ghost\",\"type\":\"venue.visit\",\"data\":{\"person\":\"p-7\",\"elderly\":true}}"
        let unflagged = "{\"id\":\"v-sd\",\"ts\":\"\(RFC3339.format(now))\",\"device\":\"c2-sd-1\",\"type\":\"venue.visit\",\"data\":{\"person\":\"p-7\",\"elderly\":true}}"
        for (topic, body) in [("cityeye/c2/c2-sd-1", alarm), ("cityeye/c2/c2-ghost", stranger), ("cityeye/c2/c2-venue", "not json"),
                              ("cityeye/c2/c2-sd-1", unflagged)] {
            try pub.publish(topic: topic, payload: Array(body.utf8), qos: 1)
        }
        lines.append(unflagged)
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        func repeatVisitors(_ incidents: [Incident]) -> [String] {
            incidents.filter { $0.rule == "health_marketing.repeat-visitor" }.map { "\($0.key) \($0.community) \($0.device) \($0.count)" }
        }
        var partitioned: [String] = []
        try waitUntil("the repeat visitor raised", timeout: 30) {
            let store = try PostgresStore(target: city.target, create: false)
            defer { store.close() }
            partitioned = repeatVisitors(try store.incidents())
            return !partitioned.isEmpty
        }
        // One engine on the same traffic, in order: a replay into SQLite.
        try lines.joined(separator: "\n").write(toFile: city.dir + "/visits.jsonl", atomically: true, encoding: .utf8)
        let r = try CityEyeBinary.run(["replay", city.dir + "/visits.jsonl", "--rules", Repo.scenarios.path, "--registry",
                                       city.dir + "/registry.yaml", "--db", city.dir + "/one.db"])
        XCTAssertEqual(r.code, 0, r.err)
        let gap = "health_marketing.repeat-visitor on c2-sd-1 (no attrs.flagged) 1"
        XCTAssertTrue(r.out.contains(gap), r.out)
        try waitUntil("the partitioned engines count the same evaluation not applicable", timeout: 10) {
            (log(city, "a") + log(city, "b")).contains("1 not applicable (so far: \(gap))")
        }
        let one = try Store(path: city.dir + "/one.db", create: false)
        defer { one.close() }
        XCTAssertEqual(repeatVisitors(try one.incidents()), ["p-7 c1 c1-venue 1"])
        Thread.sleep(forTimeInterval: 1)
        let store = try PostgresStore(target: city.target, create: false)
        defer { store.close() }
        XCTAssertEqual(repeatVisitors(try store.incidents()), repeatVisitors(try one.incidents()), "the same incident, raised once")
        XCTAssertTrue((log(city, "a") + log(city, "b")).contains("partition keyed: lease 1 taken; rules health_marketing.repeat-visitor on the 6 device(s) whose events can affect them"))
        try waitUntil("the smoke alarm counted", timeout: 10) { try store.incidents().contains { $0.device == "c2-sd-1" } }
        XCTAssertEqual(try store.deadLetters().map(\.topic).sorted(), ["cityeye/c2/c2-ghost", "cityeye/c2/c2-venue"],
                       "each rejected message dead-lettered once, by its community's partition")
        let keyedKeys = try pg.psql("SELECT coalesce(sum(length(keys)), 0) FROM processed_batch WHERE part = 'keyed'", in: city.target.database)
        XCTAssertEqual(keyedKeys.trimmingCharacters(in: .whitespacesAndNewlines), "\(visits.count * 12)",
                       "the partition keyed keeps the processed ids of the venues' visits alone (not the smoke detector's)")
    }

    /// Two engines told to run the same partition: the second waits for the lease and says who holds it.
    func testASecondEngineOnTheSameFixedPartitionWaitsAndSaysSo() throws {
        let city = try city("fixed")
        defer { city.stop() }
        let first = try engine(city, "first", ["--partitions", "p0,p1,p2,p3,p4,p5"])
        defer { stopAll([first]) }
        try waitUntil("first holds p0", timeout: 30) { log(city, "first").contains("partition p0: lease 1 taken") }
        let second = try engine(city, "second", ["--partitions", "p0"])
        defer { stopAll([second]) }
        try waitUntil("second waits for p0", timeout: 20) {
            log(city, "second").contains("partition p0: held by engine ")
        }
        XCTAssertTrue(log(city, "second").contains("waiting for it"), log(city, "second"))
        // Once the first stops and gives p0 back, the second takes it.
        first.terminate()
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0, log(city, "first"))
        try waitUntil("second takes p0", timeout: 20) { log(city, "second").contains("partition p0: lease 2 taken") }
        let bad = try CityEyeBinary.run(["run", "--config", city.dir + "/cityeye.yaml", "--partitions", "p9"])
        XCTAssertEqual(bad.code, 1, bad.err)
        XCTAssertTrue(bad.err.contains("--partitions: no partition p9 in the config"), bad.err + bad.out)
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private var problems: [String] = []
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
    /// The publisher's own failures: a message it could not hand to the broker is not the engines' loss.
    func failed(_ why: String) { lock.withLock { problems.append(why) } }
    var failures: [String] { lock.withLock { problems } }
}
