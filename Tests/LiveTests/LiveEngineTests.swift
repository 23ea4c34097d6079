import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Registry
import Engine
@testable import Live

/// The live engine against a real mosquitto started on a free loopback port (never a mock broker).
final class LiveEngineTests: XCTestCase {
    var dir = ""
    var broker: MosquittoBroker!

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-live")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        broker = try MosquittoBroker()
    }

    override func tearDown() { broker?.stop() }

    func config(rules: String? = nil, capture: Bool = true) throws -> LiveConfig {
        let rulesDir = rules ?? Repo.scenarios.path
        let text = """
        broker:
          host: 127.0.0.1
          port: \(broker.port)
          client_id: cityeye-test-engine
          topics: ["cityeye/#"]
          qos: 1
          keepalive_s: 5
        registry: registry.yaml
        rules: \(rulesDir)
        store: cityeye.db
        \(capture ? "capture_dir: capture" : "")
        """
        try text.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        if capture { try FileManager.default.createDirectory(atPath: dir + "/capture", withIntermediateDirectories: true) }
        return try LiveConfig.load(path: dir + "/cityeye.yaml")
    }

    func publisher() throws -> MQTTPublisher {
        let p = try MQTTPublisher(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "gw-\(UUID().uuidString.prefix(8))",
                                                         cleanSession: true, topics: [], qos: 1, keepalive: 5))
        try p.connect(timeout: 10)
        return p
    }

    /// Starts the engine in a task; returns it and the task.
    func start(_ cfg: LiveConfig, clock: WallClock = SystemClock()) throws -> (LiveEngine, Task<Void, Error>) {
        let engine = try LiveEngine(config: cfg, clock: clock) { _ in }
        let task = Task { try await engine.run() }
        return (engine, task)
    }

    func incidents() throws -> [Incident] { try LiveFixture.incidents(store: dir + "/cityeye.db") }

    func envelope(_ id: String, _ ts: Instant, _ device: String, _ type: String, _ data: String = "{}") -> [UInt8] {
        LiveFixture.envelope(id, ts, device, type, data)
    }

    func testEventsInIncidentsOutSpoofedAndMalformedToDeadLetters() async throws {
        let (engine, task) = try start(try config())
        try waitUntil("connected") { engine.stats.connected }
        let pub = try publisher()
        let now = SystemClock().now()
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: envelope("a1", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: Array("{broken".utf8), qos: 1)
        // A gateway of wenhui speaking for a changzhengqiao device, and a topic naming another device.
        try pub.publish(topic: "cityeye/wenhui/czq-smoke-01", payload: envelope("a2", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01", payload: envelope("a3", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: envelope("a4", now + 10 * Durations.minute, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: envelope("a1", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.waitForAcks(timeout: 10)
        try waitUntil("6 messages handled") {
            let c = engine.stats.counts
            return c.accepted + c.duplicates + c.rejectedTotal == 6
        }
        let c = engine.stats.counts
        XCTAssertEqual(c.accepted, 1)
        XCTAssertEqual(c.duplicates, 1)
        XCTAssertEqual(c.rejected[.badJSON], 1)
        XCTAssertEqual(c.rejected[.identityMismatch], 2)
        XCTAssertEqual(c.rejected[.clockSkew], 1)
        let list = try incidents()
        XCTAssertEqual(list.map(\.rule), ["electricity.smoke"])
        XCTAssertEqual(list.first?.assignee, "w-li")
        engine.stop()
        try await task.value
        let store = try Store(path: dir + "/cityeye.db", create: false)
        XCTAssertEqual(try store.deadLetterCounts()[.identityMismatch], 2)
        // The capture log holds the accepted event and replays to the same incident.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/capture")
        XCTAssertEqual(files.count, 1)
        let captured = try String(contentsOfFile: dir + "/capture/" + files[0], encoding: .utf8)
        XCTAssertEqual(captured.split(separator: "\n").count, 1)
        XCTAssertTrue(captured.contains("\"topic\":\"cityeye/changzhengqiao/czq-smoke-01\""), captured)
    }

    /// A crash between the capture's flush and the batch's commit left lines the store never committed: at the next
    /// start the capture is cut back to the position the last commit recorded (and a later day's file emptied), so the
    /// capture and the store agree; the journal hands those messages over again and they are captured once.
    func testTheCaptureIsCutBackToWhatTheStoreCommitted() async throws {
        let cfg = try config()
        var (engine, task) = try start(cfg)
        try waitUntil("connected") { engine.stats.connected }
        let pub = try publisher()
        let now = SystemClock().now()
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: envelope("c1", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.waitForAcks(timeout: 10)
        try waitUntil("committed") { engine.stats.counts.accepted == 1 }
        engine.stop()
        try await task.value
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/capture").sorted()
        XCTAssertEqual(files.count, 1)
        let file = dir + "/capture/" + files[0]
        let committed = try Data(contentsOf: URL(fileURLWithPath: file))
        let position = try XCTUnwrap(try Store(path: dir + "/cityeye.db", create: false).state(Pipeline.capturePositionName))
        XCTAssertEqual(String(decoding: position, as: UTF8.self), "\(file)\t\(committed.count)", "the commit records where the capture stands")

        // What a kill -9 after the flush and before the commit leaves: a line (and a next day's file) not committed.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id":"never-committed"}"#.utf8 + [0x0A]))
        try handle.close()
        try Data(#"{"id":"next-day"}"#.utf8 + [0x0A]).write(to: URL(fileURLWithPath: dir + "/capture/9999-12-31.jsonl"))

        let lines = Seen<String>()
        let restarted = try LiveEngine(config: cfg, clock: SystemClock()) { lines.add($0) }
        (engine, task) = (restarted, Task { try await restarted.run() })
        try waitUntil("connected again") { engine.stats.connected }
        engine.stop()
        try await task.value
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), committed)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/capture/9999-12-31.jsonl")).count, 0)
        XCTAssertTrue(lines.all.contains { $0.hasPrefix("capture: cut 25 bytes from \(file)") }, "\(lines.all)")
    }

    func testEventsPublishedWhileTheEngineIsDownAreProcessedOnceAfterRestart() async throws {
        let cfg = try config(capture: false)
        var (engine, task) = try start(cfg)
        try waitUntil("connected") { engine.stats.connected }
        try waitUntil("subscribed") { (try? self.incidents()) != nil }
        engine.stop()
        try await task.value

        let pub = try publisher()
        let t0 = SystemClock().now()
        for i in 0..<1_500 {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                            payload: envelope("hb-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                        payload: envelope("alarm-1", t0 + 2_000, "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"), qos: 1)
        try pub.waitForAcks(timeout: 20)

        (engine, task) = try start(cfg)
        try waitUntil("1,501 queued messages", timeout: 30) { engine.stats.counts.accepted == 1_501 }
        // Redelivered again: nothing doubles.
        for i in 0..<10 {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                            payload: envelope("hb-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.waitForAcks(timeout: 10)
        try waitUntil("duplicates counted") { engine.stats.counts.duplicates == 10 }
        engine.stop()
        try await task.value
        XCTAssertEqual(try incidents().map(\.rule), ["elevator.alarm"])
    }

    /// The broker sends a topic's retained message again at every subscribe: a fresh one raises its incident once
    /// (later deliveries are duplicates), one older than the dedup window is a duplicate from the start.
    func testRetainedMessagesRaiseOnceAndAStaleOneNever() async throws {
        let cfg = try config(capture: false)
        let pub = try publisher()
        let now = SystemClock().now()
        try pub.publish(topic: "cityeye/changzhengqiao/czq-smoke-01",
                        payload: envelope("old-1", now - 30 * Durations.hour, "czq-smoke-01", "smoke.alarm"), qos: 1, retain: true)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                        payload: envelope("new-1", now, "czq-elev-01", "elevator.alarm", "{\"kind\":\"button\"}"), qos: 1, retain: true)
        try pub.waitForAcks(timeout: 10)
        for round in 1...2 {
            let (engine, task) = try start(cfg)
            try waitUntil("both retained messages seen (round \(round))", timeout: 20) {
                let c = engine.stats.counts
                return c.accepted + c.duplicates == 2
            }
            XCTAssertEqual(engine.stats.counts.accepted, round == 1 ? 1 : 0, "round \(round)")
            XCTAssertEqual(engine.stats.counts.duplicates, round == 1 ? 1 : 2, "round \(round)")
            engine.stop()
            try await task.value
        }
        XCTAssertEqual(try incidents().map(\.rule), ["elevator.alarm"])
        XCTAssertEqual(try incidents().map(\.count), [1])
    }

    func testBrokerRestartMidStreamLosesNothing() async throws {
        let (engine, task) = try start(try config(capture: false))
        try waitUntil("connected") { engine.stats.connected }
        var pub = try publisher()
        let t0 = SystemClock().now()
        for i in 0..<200 {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01", payload: envelope("a-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.waitForAcks(timeout: 10)
        try waitUntil("first 200") { engine.stats.counts.accepted == 200 }
        try broker.restart()
        try waitUntil("reconnected", timeout: 40) { engine.stats.connected }
        pub.disconnect()
        pub = try publisher()
        for i in 200..<400 {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01", payload: envelope("a-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.waitForAcks(timeout: 10)
        try waitUntil("all 400", timeout: 30) { engine.stats.counts.accepted == 400 }
        engine.stop()
        try await task.value
    }

    /// A held rule fires on the wall clock with no further event: a rule file with a 1 s hold, an injected clock.
    func testHeldTimerFiresOnTheWallClockWithNoFurtherEvent() async throws {
        let rulesDir = try LiveFixture.shortHoldRules(in: dir)
        let clock = ManualClock(SystemClock().now())
        let (engine, task) = try start(try config(rules: rulesDir, capture: false), clock: clock)
        try waitUntil("connected") { engine.stats.connected }
        let pub = try publisher()
        let t0 = clock.now()
        try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01", payload: envelope("s1", t0, "czq-elev-01", "elevator.status",
            "{\"floor\":3,\"moving\":false,\"door\":\"closed\",\"between_floors\":true,\"occupants\":2}"), qos: 1)
        try pub.waitForAcks(timeout: 10)
        try waitUntil("status accepted") { engine.stats.counts.accepted == 1 }
        XCTAssertEqual(try incidents().count, 0)
        clock.advance(by: 1_500)
        try waitUntil("entrapment raised by the timer") { (try self.incidents()).map(\.rule) == ["elevator.entrapment"] }
        let i = try XCTUnwrap(try incidents().first)
        XCTAssertEqual(i.firstSeen, t0 + 1_000, "first_seen is the hold's due time")
        engine.stop()
        try await task.value
    }
}
