import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
@testable import Live

/// The engine on a source that acknowledges only after the commit (`LiveTuning.acknowledgesAfterCommit`, the mode
/// for partitions): the broker is the journal, so an engine whose local journal is gone with its machine loses
/// nothing — the next holder of the client id gets what was not committed. The same steps in the default mode lose
/// what the journal held, which is what the test is for.
extension LiveEngineTests {
    /// Publishes `total` heartbeats while another process holds the store; the engine takes some and commits none,
    /// stops, and its journal folder is removed; then a second engine with the same config runs on the freed store.
    /// Returns how many the second engine accepted.
    func acceptedAfterLosingTheJournal(acknowledgesAfterCommit: Bool, total: Int) async throws -> (accepted: Int, duplicates: Int) {
        let cfg = try config(capture: false)
        var tuning = LiveTuning()
        tuning.maxBatchSize = 100
        tuning.storeBusyTimeoutMs = 50
        tuning.retryLimitSeconds = 0.2
        tuning.acknowledgesAfterCommit = acknowledgesAfterCommit
        let first = try LiveEngine(config: cfg, tuning: tuning) { _ in }
        let running = Task { try await first.run() }
        try waitUntil("connected") { first.stats.connected }
        try await Task.sleep(nanoseconds: 300_000_000)
        let holder = try StoreWriteHolder(store: cfg.store)
        let pub = try publisher()
        let t0 = SystemClock().now()
        for i in 0..<total {
            try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                            payload: envelope("a-\(i)", t0 + Int64(i), "czq-elev-01", "elevator.heartbeat"), qos: 1)
        }
        try pub.waitForAcks(timeout: 30)
        pub.disconnect()
        // A store fault is reported only for a batch that holds messages (no timer is due in this test); a source
        // that acknowledges after the commit then reads nothing more, so its inbox may well be empty.
        try waitUntil("the first engine holds messages it cannot commit") { first.stats.storeFault != nil }
        first.stop()
        try await running.value
        XCTAssertEqual(first.stats.counts.accepted, 0, "the store was held: nothing committed")
        try FileManager.default.removeItem(atPath: cfg.journalDir)
        holder.release()

        let second = try LiveEngine(config: cfg, tuning: tuning) { _ in }
        let again = Task { try await second.run() }
        try waitUntil("connected") { second.stats.connected }
        // Whatever the broker still has arrives right after the connect; then nothing more comes.
        var last = -1
        while second.stats.counts.accepted != last {
            last = second.stats.counts.accepted
            try await Task.sleep(nanoseconds: 1_000_000_000)
        }
        second.stop()
        try await again.value
        return (second.stats.counts.accepted, second.stats.counts.duplicates)
    }

    func testAfterCommitAcknowledgementsLoseNothingWhenTheLocalJournalIsGone() async throws {
        let got = try await acceptedAfterLosingTheJournal(acknowledgesAfterCommit: true, total: 500)
        XCTAssertEqual(got.accepted, 500, "every message came back from the broker")
        XCTAssertEqual(got.duplicates, 0)
    }

    func testTheDefaultModeNeedsItsLocalJournal() async throws {
        let got = try await acceptedAfterLosingTheJournal(acknowledgesAfterCommit: false, total: 500)
        XCTAssertLessThan(got.accepted, 500, "what the first engine had acknowledged lived only in its journal")
    }
}
