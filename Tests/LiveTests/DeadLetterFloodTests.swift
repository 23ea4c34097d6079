import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Registry
import Engine
@testable import Live

/// A flood of rejected messages through a real mosquitto: the store keeps what `dead_letters:` allows, counts every
/// message, and the engine goes on taking good events.
final class DeadLetterFloodTests: XCTestCase {
    var dir = ""
    var broker: MosquittoBroker!

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-flood")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        broker = try MosquittoBroker()
    }

    override func tearDown() { broker?.stop() }

    /// The wall clock stands still inside one minute, so the per-minute limits are exact whatever the test's speed.
    struct StillClock: WallClock {
        let at: Instant
        func now() -> Instant { at }
    }

    func testAFloodIsKeptWithinTheLimitsAndEveryMessageCounted() async throws {
        try """
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: cityeye-flood-engine, keepalive_s: 5}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: cityeye.db
        dead_letters: {per_device_per_minute: 5, overall_per_minute: 20, payload_max_bytes: 1000}
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let now = SystemClock().now()
        let minute = Instant(ms: now.ms - now.ms % Durations.minute + 1_000)
        let engine = try LiveEngine(config: try LiveConfig.load(path: dir + "/cityeye.yaml"), clock: StillClock(at: minute)) { _ in }
        let task = Task { try await engine.run() }
        try waitUntil("connected") { engine.stats.connected }
        let pub = try MQTTPublisher(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "flood", cleanSession: true,
                                                           topics: [], qos: 1, keepalive: 5))
        try pub.connect(timeout: 10)
        let big = Array(("{" + String(repeating: "x", count: 10_000)).utf8)
        for i in 0..<600 {
            // One gateway's garbage on one topic, and messages each claiming another device on another topic.
            try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: big, qos: 1)
            try pub.publish(topic: "cityeye/changzhengqiao/fake-\(i)",
                            payload: LiveFixture.envelope("f\(i)", minute, "fake-\(i)", "smoke.alarm"), qos: 1)
            if i % 100 == 99 { try pub.waitForAcks(timeout: 30) }
        }
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01",
                        payload: LiveFixture.envelope("ok", minute, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.waitForAcks(timeout: 30)
        try waitUntil("1,201 messages handled", timeout: 60) {
            let c = engine.stats.counts
            return c.accepted + c.duplicates + c.rejectedTotal == 1_201
        }
        engine.stop()
        try await task.value
        XCTAssertEqual(engine.stats.counts.accepted, 1, "the flood did not stop good events")
        XCTAssertEqual(engine.stats.counts.rejectedTotal, 1_200)

        let store = try Store(path: dir + "/cityeye.db", create: false)
        let kept = try store.deadLetters()
        XCTAssertEqual(kept.filter { $0.reason == .badJSON }.count, 5, "one topic's garbage: its per-minute limit")
        XCTAssertEqual(kept.count, 20, "the overall limit, however many topics")
        XCTAssertTrue(kept.allSatisfy { $0.payload.count <= 1_000 })
        XCTAssertTrue(kept.allSatisfy { $0.receivedAt == minute })
        let counts = try store.deadLetterCountsByTopic()
        XCTAssertEqual(counts.map(\.count).reduce(0, +), 1_200, "every rejected message is counted")
        XCTAssertEqual(counts.first { $0.reason == .badJSON }?.count, 600)
        XCTAssertEqual(counts.filter { $0.reason == .unknownDevice }.count, 600)
    }
}
