import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Registry
@testable import Live

/// The live loop with no broker: messages from an in-memory source, time from a clock moved by hand, a real SQLite
/// store. (LiveEngineTests runs the same engine against a real mosquitto.)
final class LiveLoopTests: XCTestCase {
    var dir = ""
    var db: String { dir + "/cityeye.db" }

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-loop")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
    }

    /// The broker section is required by the config; the in-memory source never uses it.
    func config(rules: String = Repo.scenarios.path) throws -> LiveConfig {
        try """
        broker: {host: 127.0.0.1, port: 1883, client_id: loop-test}
        registry: registry.yaml
        rules: \(rules)
        store: cityeye.db
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return try LiveConfig.load(path: dir + "/cityeye.yaml")
    }

    /// No ticks in the test's time: the engine takes messages only when the source says they wait.
    static let noTicks: LiveTuning = {
        var t = LiveTuning()
        t.maxBatchDelayMs = 600_000
        t.gathersBatches = false
        return t
    }()

    func start(_ source: InMemorySource, clock: ManualClock, rules: String = Repo.scenarios.path,
               tuning: LiveTuning = LiveTuning(), log: @escaping @Sendable (String) -> Void = { _ in })
        throws -> (LiveEngine, Task<Void, Error>) {
        let engine = try LiveEngine(config: try config(rules: rules), source: source, clock: clock, tuning: tuning, log: log)
        return (engine, Task { try await engine.run() })
    }

    func message(_ id: String, _ ts: Instant, _ device: String, _ type: String, _ data: String = "{}") -> MQTTMessage {
        MQTTMessage(topic: "cityeye/changzhengqiao/\(device)", payload: LiveFixture.envelope(id, ts, device, type, data))
    }

    func alarms(_ n: Int, from t0: Instant) -> [MQTTMessage] {
        (0..<n).map { message("alarm-\($0)", t0 + Int64($0), "czq-smoke-01", "smoke.alarm") }
    }

    func testMessagesAreCommittedInBatchesOfAtMostTheBatchSize() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: Self.noTicks)
        let t0 = clock.now()
        var messages = (0..<4_500).map { message("hb-\($0)", t0 + Int64($0), "czq-elev-01", "elevator.heartbeat") }
        messages.append(message("a1", t0, "czq-smoke-01", "smoke.alarm"))
        messages.append(message("a1", t0, "czq-smoke-01", "smoke.alarm"))
        messages.append(MQTTMessage(topic: "cityeye/changzhengqiao/czq-smoke-01", payload: Array("{broken".utf8)))
        XCTAssertTrue(source.deliver(messages))
        try waitUntil("4,503 messages handled") {
            let c = engine.stats.counts
            return c.accepted + c.duplicates + c.rejectedTotal == 4_503
        }
        let stats = engine.stats
        XCTAssertEqual(stats.counts.accepted, 4_501)
        XCTAssertEqual(stats.counts.duplicates, 1)
        XCTAssertEqual(stats.counts.rejected[.badJSON], 1)
        XCTAssertEqual(stats.largestBatch, 2_000, "a batch holds at most maxBatchSize messages")
        XCTAssertEqual(stats.batches, 3)
        // Committed, not only counted: another connection sees the incident and the dead letter.
        XCTAssertEqual(try LiveFixture.incidents(store: db).map(\.rule), ["electricity.smoke"])
        XCTAssertEqual(try Store(path: db, create: false).deadLetterCounts()[.badJSON], 1)
        engine.stop()
        try await task.value
    }

    /// The default tuning with no tick in the test's time: what the engine commits without its tick.
    static let gatheringNoTicks: LiveTuning = { var t = LiveTuning(); t.maxBatchDelayMs = 600_000; return t }()

    /// Messages reaching an idle engine wait for its next tick and are committed together, not one commit a message.
    func testAnIdleEngineGathersArrivingMessagesForItsTick() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: Self.gatheringNoTicks)
        // A message delivered before the engine has started its source would wait without a wake either way.
        try waitUntil("the engine has started its source") { engine.stats.connected }
        let t0 = clock.now()
        source.deliver([message("g1", t0, "czq-smoke-01", "smoke.alarm")])
        // Time for an engine that commits each arrival to do so (the batch count below would then be 1).
        try await Task.sleep(nanoseconds: 200_000_000)
        source.deliver([message("g2", t0 + 1, "czq-smoke-01", "smoke.alarm")])
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(engine.stats.batches, 0, "single arrivals wait for the tick")
        XCTAssertEqual(engine.waiting, 2)
        engine.stop()
        try await task.value
        XCTAssertEqual(engine.stats.counts.accepted, 2)
        XCTAssertEqual(engine.stats.batches, 1, "both committed together (here when the engine stopped)")
    }

    /// A delivery that fills a batch does not wait for the tick, nor does what a full batch left.
    func testAFullBatchAndWhatItLeftAreTakenWithoutWaitingForTheTick() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: Self.gatheringNoTicks)
        // A message delivered before the engine has started its source would wait without a wake either way.
        try waitUntil("the engine has started its source") { engine.stats.connected }
        let t0 = clock.now()
        source.deliver((0..<2_100).map { message("hb-\($0)", t0 + Int64($0), "czq-elev-01", "elevator.heartbeat") })
        try waitUntil("both batches committed") { engine.stats.batches == 2 }
        XCTAssertEqual(engine.stats.largestBatch, 2_000)
        XCTAssertEqual(engine.stats.counts.accepted, 2_100)
        XCTAssertEqual(engine.waiting, 0)
        engine.stop()
        try await task.value
    }

    func testAHeldTimerFiresWhenTheClockMovesWithNoFurtherMessage() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, rules: try LiveFixture.shortHoldRules(in: dir))
        let t0 = clock.now()
        source.deliver([message("s1", t0, "czq-elev-01", "elevator.status",
                                "{\"floor\":3,\"moving\":false,\"door\":\"closed\",\"between_floors\":true,\"occupants\":2}")])
        try waitUntil("status accepted") { engine.stats.counts.accepted == 1 }
        // A batch committed 1 ms before the hold is due moves the clock there and raises nothing.
        clock.advance(by: 999)
        source.deliver([message("x1", t0 + 999, "czq-smoke-01", "smoke.alarm")])
        try waitUntil("second message accepted") { engine.stats.counts.accepted == 2 }
        XCTAssertEqual(try LiveFixture.incidents(store: db).count, 0, "the hold is not due yet")
        clock.advance(by: 1)
        try waitUntil("entrapment raised by the timer") { try LiveFixture.incidents(store: db).map(\.rule) == ["elevator.entrapment"] }
        XCTAssertEqual(try LiveFixture.incidents(store: db).first?.firstSeen, t0 + 1_000, "first_seen is the hold's due time")
        engine.stop()
        try await task.value
    }

    func testStopCommitsWhatTheSourceReceivedAndSavesTheRuleState() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: Self.noTicks)
        XCTAssertTrue(source.deliver(alarms(5_000, from: clock.now())))
        engine.stop()
        try await task.value
        XCTAssertFalse(source.deliver(alarms(1, from: clock.now())), "a stopped source takes nothing more")
        XCTAssertEqual(engine.stats.counts.accepted, 5_000)
        XCTAssertLessThanOrEqual(engine.stats.largestBatch, 2_000)
        let store = try Store(path: db, create: false)
        defer { store.close() }
        XCTAssertEqual(try store.incidents().reduce(0) { $0 + $1.count }, 5_000, "every alarm committed in one incident")
        XCTAssertNotNil(try store.state("rules.clock"), "the rule state is saved at the stop")
    }

    func testConnectionChangesAreReportedAndReadyIsAnnouncedOnce() async throws {
        let lines = Seen<String>()
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: ManualClock(SystemClock().now()), log: { lines.add($0) })
        try waitUntil("ready") { engine.stats.connected && lines.all.contains { $0.hasPrefix("ready: ") } }
        source.disconnect(reason: "connection lost")
        try waitUntil("disconnected") { !engine.stats.connected }
        source.connect()
        try waitUntil("connected again") { engine.stats.connected }
        engine.stop()
        try await task.value
        let seen = lines.all
        XCTAssertEqual(seen.filter { $0.hasPrefix("ready: ") }.count, 1, "\(seen)")
        XCTAssertTrue(seen.contains("disconnected from the broker (connection lost); reconnecting"), "\(seen)")
        XCTAssertEqual(seen.filter { $0.hasPrefix("connected to ") }.count, 2, "\(seen)")
        XCTAssertTrue(seen.last?.hasPrefix("stopped: ") ?? false, "\(seen)")
    }

    /// In the hook, a take finds the messages received before, never the one being received.
    func testTheReceiveHookRunsBeforeItsMessageCanBeTaken() throws {
        let source = InMemorySource()
        let takenInHook = Seen<[String]>()
        try source.start(received: { _ in takenInHook.add(source.take(upTo: 10).map(\.topic)) }, events: { _ in })
        source.deliver([MQTTMessage(topic: "a", payload: []), MQTTMessage(topic: "b", payload: [])])
        XCTAssertEqual(takenInHook.all, [[], ["a"]])
        XCTAssertEqual(source.take(upTo: 10).map(\.topic), ["b"])
    }
}

/// The live engine's log tells people what happens to incidents as it happens (issue 13), unless asked to be quiet.
extension LiveLoopTests {
    func testDispatchEscalationAndCloseAreLoggedAsTheyHappen() async throws {
        let lines = Seen<String>()
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: Self.noTicks) { lines.add($0) }
        try waitUntil("ready") { lines.all.contains { $0.hasPrefix("ready:") } }
        XCTAssertTrue(source.deliver([message("a1", clock.now(), "czq-smoke-01", "smoke.alarm")]))
        try waitUntil("the alarm is dispatched") { lines.all.contains { $0.contains("dispatched to") } }
        let dispatched = try XCTUnwrap(lines.all.first { $0.contains("dispatched to") })
        XCTAssertTrue(dispatched.hasPrefix("incident 1 critical electricity.smoke czq-smoke-01 ("), dispatched)

        clock.advance(by: 6 * Durations.minute)
        XCTAssertTrue(source.deliver([message("hb", clock.now(), "czq-elev-01", "elevator.heartbeat")]))
        try waitUntil("the unacknowledged alarm is escalated") { lines.all.contains { $0.contains(": escalated to s-") } }

        let store = try Store(path: db, create: false)
        try store.writeTransaction { tx in
            var i = try XCTUnwrap(tx.incident(id: 1))
            i.status = .closed
            try tx.upsert([i])
            try tx.append([AuditEntry(incident: 1, at: clock.now(), actor: "s-zhao", action: .closed, note: "",
                                      channel: .cli, osUser: "test")])
        }
        store.close()
        XCTAssertTrue(source.deliver([message("hb2", clock.now(), "czq-elev-01", "elevator.heartbeat")]))
        try waitUntil("the close is picked up") { lines.all.contains { $0.hasPrefix("incident 1 ") && $0.hasSuffix(": closed") } }
        engine.stop()
        try await task.value
    }

    func testQuietLogsNoIncidentLines() async throws {
        let lines = Seen<String>()
        var tuning = Self.noTicks
        tuning.announcesIncidents = false
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: clock, tuning: tuning) { lines.add($0) }
        try waitUntil("ready") { lines.all.contains { $0.hasPrefix("ready:") } }
        XCTAssertTrue(source.deliver([message("a1", clock.now(), "czq-smoke-01", "smoke.alarm")]))
        try waitUntil("the alarm is committed") { engine.stats.counts.raisedTotal == 1 }
        engine.stop()
        try await task.value
        XCTAssertFalse(lines.all.contains { $0.hasPrefix("incident ") }, "\(lines.all)")
    }
}
