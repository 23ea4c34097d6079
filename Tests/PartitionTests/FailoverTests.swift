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
        var devices: [(community: String, device: String)] {
            FailoverTests.communities.flatMap { c in (1...FailoverTests.detectorsEach).map { (c, "\(c)-sd-\($0)") } }
        }
    }

    func city(_ name: String) throws -> City {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built (swift build --build-tests builds it)")
        }
        _ = try pg.psql("CREATE DATABASE \(name)")
        let target = try PostgresTarget.parse("postgres://\(pg.user)@127.0.0.1:\(pg.port)/\(name)")
        let broker = try MosquittoBroker()
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
        }
        var registry = ["communities:"] + Self.communities.map { "  - {id: \($0), name: \($0), timezone: Asia/Shanghai}" }
        registry += ["grids:"] + Self.communities.map { "  - {id: \($0)-g1, community: \($0), name: G1}" }
        registry += ["workers:"] + Self.communities.map { "  - {id: w-\($0), name: W \($0), grid: \($0)-g1, role: worker}" }
        registry += ["devices:"] + Self.communities.flatMap { c in
            (1...Self.detectorsEach).map { "  - {id: \(c)-sd-\($0), type: smoke_detector, community: \(c), grid: \(c)-g1}" }
        }
        try registry.joined(separator: "\n").write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        try ("""
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: city, keepalive_s: 5}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: \(target)
        audit_key_file: audit-key
        partitions:

        """ + Self.communities.enumerated().map { "  - {id: p\($0.offset), communities: [\($0.element)]}" }.joined(separator: "\n") + "\n")
            .write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return City(dir: dir, target: target, broker: broker)
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

    func log(_ city: City, _ name: String) -> String {
        (try? String(contentsOfFile: city.dir + "/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Publishes `n` smoke alarms at `rate` a second, round-robin over the city's detectors, on its own thread.
    func publish(_ city: City, n: Int, rate: Double, done: Flag) {
        let port = city.broker.port, devices = city.devices
        let ts = RFC3339.format(SystemClock().now())
        Thread.detachNewThread {
            defer { done.set() }
            guard let pub = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gateways", cleanSession: true, topics: [])),
                  (try? pub.connect()) != nil else { return }
            let start = Date()
            for i in 0..<n {
                let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                let (c, d) = devices[i % devices.count]
                let body = "{\"id\":\"a-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}"
                try? pub.publish(topic: "cityeye/\(c)/\(d)", payload: Array(body.utf8), qos: 1)
            }
            try? pub.waitForAcks(timeout: 60)
            pub.disconnect()
        }
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

    /// Three engines, six partitions; one killed with -9 mid-stream and started again later.
    func testAKilledEnginesPartitionsAreTakenOverAndNothingIsLostOrCountedTwice() throws {
        let city = try city("killed")
        defer { city.broker.stop() }
        var engines = try ["a", "b", "c"].map { try engine(city, $0) }
        defer { stopAll(engines) }
        try waitUntil("all six partitions taken", timeout: 30) {
            ["a", "b", "c"].map { log(city, $0).components(separatedBy: "taken;").count - 1 }.reduce(0, +) >= 6
        }
        let n = 7_200
        let done = Flag()
        publish(city, n: n, rate: 900, done: done)
        Thread.sleep(forTimeInterval: 2.5)
        kill(engines[1].processIdentifier, SIGKILL)
        engines[1].waitUntilExit()
        let killedAt = Date()
        // The survivors take b's partitions once its lease expires.
        try waitUntil("b's partitions taken over", timeout: 30) {
            ["a", "c"].map { log(city, $0).components(separatedBy: "taken;").count - 1 }.reduce(0, +) >= 6
        }
        let failover = Date().timeIntervalSince(killedAt)
        XCTAssertLessThan(failover, 15, "lease 6 s, roster 6 s, rounds of 1 s")
        engines[1] = try engine(city, "b2")
        try waitUntil("published", timeout: 60) { done.isSet }
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)
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
        defer { city.broker.stop() }
        let engines = try ["a", "b"].map { try engine(city, $0) }
        defer {
            for e in engines where e.isRunning { kill(e.processIdentifier, SIGCONT) }
            stopAll(engines)
        }
        try waitUntil("all six partitions taken", timeout: 30) {
            ["a", "b"].map { log(city, $0).components(separatedBy: "taken;").count - 1 }.reduce(0, +) >= 6
        }
        let n = 4_800
        let done = Flag()
        publish(city, n: n, rate: 800, done: done)
        Thread.sleep(forTimeInterval: 1.5)
        kill(engines[0].processIdentifier, SIGSTOP)
        try waitUntil("a's partitions taken by b", timeout: 30) { log(city, "b").components(separatedBy: "taken;").count - 1 >= 6 }
        kill(engines[0].processIdentifier, SIGCONT)
        try waitUntil("a says its leases are lost", timeout: 20) { log(city, "a").contains("lease lost") }
        try waitUntil("published", timeout: 60) { done.isSet }
        try waitForAll(city, n: n)
        try assertEachAlarmCountedOnce(city, n: n)
        stopAll(engines)
        XCTAssertEqual(engines.map(\.terminationStatus), [0, 0], log(city, "a"))
    }

    /// Two engines told to run the same partition: the second waits for the lease and says who holds it.
    func testASecondEngineOnTheSameFixedPartitionWaitsAndSaysSo() throws {
        let city = try city("fixed")
        defer { city.broker.stop() }
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
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
