import XCTest
import Foundation
import Model
import MQTT
import Store
import Engine
import Telemetry
import TestSupport
@testable import Live

/// `/healthz`'s verdict and the engine's metrics, on the in-memory source and a clock moved by hand.
extension LiveLoopTests {
    func testHealthFollowsTheBrokerConnectionAndAStoreHeldByAnotherProcess() async throws {
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        var tuning = LiveTuning()
        tuning.storeBusyTimeoutMs = 50
        tuning.retryLimitSeconds = 0.2
        let metrics = MetricsRegistry()
        let engine = try LiveEngine(config: try config(), source: source, clock: clock, tuning: tuning, metrics: metrics.factory) { _ in }
        XCTAssertEqual(engine.health().healthy, false)
        XCTAssertTrue(engine.health().reason?.hasPrefix("broker not connected since the start") == true, engine.health().reason ?? "")
        let task = Task { try await engine.run() }
        try waitUntil("healthy") { engine.health().healthy }

        source.deliver(alarms(3, from: clock.now()))
        try waitUntil("alarms accepted") { engine.stats.counts.accepted == 3 }
        let text = metrics.exposition()
        XCTAssertEqual(metric(text, "cityeye_messages_accepted_total"), 3)
        XCTAssertEqual(metric(text, "cityeye_broker_connected"), 1)
        XCTAssertEqual(metric(text, "cityeye_last_commit_timestamp_seconds"), Double(clock.now().ms) / 1000)

        source.disconnect(reason: "connection lost")
        try waitUntil("unhealthy") { !engine.health().healthy }
        XCTAssertEqual(engine.health().reason, "broker disconnected since \(clock.now()) (0 s ago): no messages are taken; check the broker and the engine's log")
        XCTAssertEqual(metric(metrics.exposition(), "cityeye_broker_connected"), 0)
        source.connect()
        try waitUntil("healthy again") { engine.health().healthy }

        // Another process holds the store: the batch waits, and once its last commit is over 30 s old the engine
        // says so, naming the store as the cause.
        let holder = try StoreWriteHolder(store: db)
        let committedAt = clock.now()
        source.deliver([message("held-1", committedAt + 10, "czq-smoke-01", "smoke.alarm")])
        try waitUntil("store fault seen") { engine.stats.storeFault == .busy }
        clock.advance(by: 29 * Durations.second)
        XCTAssertTrue(engine.health().healthy, "29 s without a commit is still fine")
        clock.advance(by: 16 * Durations.second)
        XCTAssertEqual(engine.health().reason, "store busy: last commit 45 s ago; another process holds a write transaction on the store")
        holder.release()
        try waitUntil("committed after the store is free") { engine.stats.counts.accepted == 4 }
        try waitUntil("healthy once committing again") { engine.health().healthy }
        XCTAssertNil(engine.stats.storeFault)
        engine.stop()
        try await task.value
    }

    func testHealthVerdictsFromStats() {
        let t0 = Instant(ms: 1_700_000_000_000)
        var s = LiveStats(counts: IngestCounts(), batches: 0, connected: true, lastCommitAt: t0)
        XCTAssertTrue(LiveHealth(s, now: t0 + 30 * Durations.second).healthy)
        XCTAssertEqual(LiveHealth(s, now: t0 + 31 * Durations.second).reason,
                       "engine stalled: last commit 31 s ago; see the engine's log")
        // Nothing to commit counts as keeping up.
        s.lastIdleAt = t0 + 60 * Durations.second
        XCTAssertTrue(LiveHealth(s, now: t0 + 61 * Durations.second).healthy)
        s.connected = false
        s.connectionChangedAt = t0 + 50 * Durations.second
        s.storeFault = .diskFull
        let both = LiveHealth(s, now: t0 + 100 * Durations.second)
        XCTAssertEqual(both.reason, "broker disconnected since \(t0 + 50 * Durations.second) (50 s ago): no messages are taken; "
                       + "check the broker and the engine's log; store disk full: last commit 100 s ago; free space under the store")
    }
}
