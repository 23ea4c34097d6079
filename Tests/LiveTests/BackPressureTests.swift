import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
@testable import Live

/// Against a real mosquitto: an engine whose store is held by another process takes at most two batches into
/// memory; the broker keeps the rest, and nothing is lost when the store is free again.
extension LiveEngineTests {
    func testAStalledEngineUnderAFloodHoldsAtMostTwoBatchesAndLosesNothing() async throws {
        let cfg = try config(capture: false)
        var tuning = LiveTuning()
        tuning.maxBatchSize = 100
        tuning.storeBusyTimeoutMs = 50
        tuning.retryLimitSeconds = 0.2
        let engine = try LiveEngine(config: cfg, tuning: tuning) { _ in }
        let task = Task { try await engine.run() }
        try waitUntil("connected") { engine.stats.connected }
        try await Task.sleep(nanoseconds: 300_000_000)
        let holder = try StoreWriteHolder(store: cfg.store)
        let pub = try publisher()
        let t0 = SystemClock().now()
        let total = 3_000
        for i in 0..<total {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                            payload: envelope("f-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.waitForAcks(timeout: 30)
        var most = 0
        for _ in 0..<40 {
            most = max(most, engine.waiting)
            try await Task.sleep(nanoseconds: 25_000_000)
        }
        XCTAssertEqual(engine.stats.counts.accepted, 0, "the store is held: nothing commits")
        XCTAssertGreaterThan(most, 0)
        XCTAssertLessThanOrEqual(most, 2 * tuning.maxBatchSize, "the inbox holds at most two batches; the broker the rest")
        holder.release()
        try waitUntil("all \(total) committed", timeout: 60) { engine.stats.counts.accepted == total }
        engine.stop()
        try await task.value
        XCTAssertEqual(engine.stats.counts.duplicates, 0)
    }
}
