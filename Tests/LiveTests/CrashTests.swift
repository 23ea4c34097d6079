import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Simulation
import Live

/// `kill -9` of a real `cityeye run` process at random moments while gateways publish, restarted each time: every
/// message the broker acknowledged is counted exactly once in the store (smoke alarms: each one adds 1 to its
/// device's incident count), and the store passes `PRAGMA integrity_check`. The long form (50 kills, 5,000 ev/s) is
/// `scripts/crash-harness.sh`.
final class CrashTests: XCTestCase {
    static let binary = CityEyeBinary.url.path

    func testKilledThreeTimesMidStreamNothingLostNothingTwice() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) not built (swift build --build-tests builds it)")
        }
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let dir = try temporaryPath("cityeye-crash")
        let devices = 200
        try DeploymentPlan.smokeDetectorsYAML(count: devices).write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        try """
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: crash-test, keepalive_s: 5}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: cityeye.db
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        var engine = try startEngine(dir)

        let n = 6_000, rate = 2_000.0
        let ts = RFC3339.format(SystemClock().now())
        let published = Flag()
        let port = broker.port
        Thread.detachNewThread {
            defer { published.set() }
            guard let pub = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: "crash-gw", cleanSession: true, topics: [])),
                  (try? pub.connect()) != nil else { return }
            let start = Date()
            for i in 0..<n {
                let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                let d = "sd-\(i % devices + 1)"
                _ = try? pub.publish(topic: "cityeye/czq/\(d)", payload: Array("{\"id\":\"c-\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(d)\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8), qos: 1)
            }
            try? pub.waitForAcks(timeout: 60)
            pub.disconnect()
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: Double.random(in: 0.3...0.9, using: &rng))
            kill(engine.processIdentifier, SIGKILL)
            engine.waitUntilExit()
            engine = try startEngine(dir)
        }
        try waitUntil("published", timeout: 60) { published.isSet }
        var counted = 0
        try waitUntil("all \(n) counted", timeout: 60) {
            counted = try LiveFixture.incidents(store: dir + "/cityeye.db").reduce(0) { $0 + Int($1.count) }
            return counted >= n
        }
        engine.terminate()
        engine.waitUntilExit()
        XCTAssertEqual(engine.terminationStatus, 0)
        counted = try LiveFixture.incidents(store: dir + "/cityeye.db").reduce(0) { $0 + Int($1.count) }
        XCTAssertEqual(counted, n, "each acknowledged alarm counted exactly once")
        XCTAssertEqual(try sqlite(dir + "/cityeye.db", "PRAGMA integrity_check"), "ok")
    }

    /// Starts `cityeye run` and waits for its `ready` line.
    func startEngine(_ dir: String) throws -> Process {
        let log = dir + "/engine-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["run", "--config", dir + "/cityeye.yaml"]
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = p.standardOutput
        try p.run()
        try waitUntil("engine ready", timeout: 30) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready:")
        }
        return p
    }

    func sqlite(_ db: String, _ sql: String) throws -> String {
        let p = Process(), out = Pipe()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [db, sql]
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
