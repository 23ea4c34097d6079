import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Registry
import Store
@testable import Live

/// A full disk under the journal or under the store is waited out: logged once with the path, nothing taken or
/// committed meanwhile, everything committed once space is freed.
extension LiveLoopTests {
    func config(store: String, journal: String) throws -> LiveConfig {
        try """
        broker: {host: 127.0.0.1, port: 1883, client_id: loop-test}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: \(store)
        journal: {dir: \(journal), sync: always}
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return try LiveConfig.load(path: dir + "/cityeye.yaml")
    }

    func runUntilFreed(_ disk: SmallDisk, store: String, journal: String, expect fault: String) async throws {
        let t0 = Instant(ms: 1_780_000_000_000)
        var tuning = LiveTuning()
        tuning.retryLimitSeconds = 0.2
        let logged = Seen<String>()
        let source = InMemorySource()
        let engine = try LiveEngine(config: try config(store: store, journal: journal), source: source,
                                    clock: ManualClock(t0 + 1_000), tuning: tuning) { logged.add($0) }
        let task = Task { try await engine.run() }
        try waitUntil("connected") { engine.stats.connected }
        disk.fill()
        // The receive hook runs on the caller's thread, as on the MQTT thread: it blocks while the journal cannot append.
        let messages = alarms(20, from: t0)
        Thread.detachNewThread { source.deliver(messages) }
        try waitUntil("the fault logged") { logged.all.contains { $0.contains(fault) } }
        try await Task.sleep(nanoseconds: 400_000_000)
        XCTAssertEqual(engine.stats.counts.accepted, 0, "nothing is taken or committed while the disk is full")
        XCTAssertEqual(logged.all.filter { $0.contains(fault) }.count, 1, "said once, not per retry: \(logged.all)")
        XCTAssertTrue(logged.all.contains { $0.contains(disk.path) }, "names where: \(logged.all)")
        disk.free()
        try waitUntil("all committed once space is freed") { engine.stats.counts.accepted == 20 }
        engine.stop()
        try await task.value
        XCTAssertEqual(try LiveFixture.incidents(store: store).first?.count, 20)
    }

    func testAFullDiskUnderTheJournalIsWaitedOut() async throws {
        let disk = try SmallDisk(kilobytes: 512, on: try temporaryPath("cityeye-small-disk"))
        defer { disk.unmount() }
        try await runUntilFreed(disk, store: db, journal: disk.path + "/journal", expect: "the disk is full")
    }

    func testAFullDiskUnderTheStoreIsWaitedOut() async throws {
        let disk = try SmallDisk(kilobytes: 2048, on: try temporaryPath("cityeye-small-disk"))
        defer { disk.unmount() }
        try await runUntilFreed(disk, store: disk.path + "/cityeye.db", journal: dir + "/journal", expect: "the disk under it is full")
    }

    /// The live engine's checkpoints run on a thread of their own; one that cannot write the database (the disk
    /// under it full) is said (`Store.checkpointFault`, which the engine logs once), not swallowed, and clears once a
    /// checkpoint succeeds again. Commits meanwhile may fail too; nothing committed is lost.
    func testABackgroundCheckpointThatCannotWriteIsReportedAndClears() throws {
        let disk = try SmallDisk(kilobytes: 4096, on: try temporaryPath("cityeye-small-disk"))
        defer { disk.unmount() }
        let s = try Store(path: disk.path + "/s.db")
        s.setCheckpointPages(40)
        try s.checkpointInBackground()
        var next: Int64 = 0
        var committed: Int64 = 0
        func commitSome() {
            let batch = (0..<20).map { k in Self.incident(next + Int64(k) + 1) }
            do {
                try s.writeTransaction { tx in try tx.upsert(batch) }
                next += 20
                committed = next
            } catch {}
            s.finishCheckpoint()
        }
        for _ in 0..<100 { commitSome() }
        XCTAssertNil(s.checkpointFault)
        disk.fill()
        let deadline = Date().addingTimeInterval(20)
        while s.checkpointFault == nil && Date() < deadline { commitSome(); Thread.sleep(forTimeInterval: 0.01) }
        let fault = try XCTUnwrap(s.checkpointFault, "a checkpoint on a full disk is reported")
        XCTAssertTrue(fault.contains(disk.path + "/s.db"), fault)
        disk.free()
        let again = Date().addingTimeInterval(20)
        while s.checkpointFault != nil && Date() < again { commitSome(); Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertNil(s.checkpointFault, "cleared once a checkpoint succeeds")
        XCTAssertEqual(try s.maxIncidentID(), committed, "every commit that succeeded is in the store")
        s.close()
    }

    static func incident(_ id: Int64) -> Incident {
        Incident(id: id, rule: "fire.smoke", scenario: "fire", severity: .critical, key: "k\(id)", device: "d", subject: "s",
                 community: "czq", grid: "g1", firstSeen: Instant(ms: 1), lastSeen: Instant(ms: 2), count: 1,
                 condition: .active, status: .dispatched, assignee: "w-li", escalated: false, overdue: false,
                 ackDue: Instant(ms: 300_001), resolveDue: Instant(ms: 3_600_001))
    }
}
