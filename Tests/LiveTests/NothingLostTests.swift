import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Journal
import Registry
@testable import Live

/// The live engine loses nothing it was handed: what was journaled and not committed is processed on start, one
/// engine holds a store, and a store held by another process is waited out.
extension LiveLoopTests {
    func testWhatWasJournaledButNotCommittedIsProcessedOnStartOnce() async throws {
        let t0 = Instant(ms: 1_780_000_000_000)
        // An engine that journaled three messages and died before its commit.
        let journal = try IngressJournal(directory: db + ".journal")
        for m in alarms(2, from: t0) + alarms(1, from: t0) {
            _ = try m.payload.withUnsafeBytes { try journal.append(topic: m.topic, payload: $0, arrivedAt: t0 + 5, retained: false) }
        }
        let end = journal.end
        var (engine, task) = try start(InMemorySource(), clock: ManualClock(t0 + 1_000))
        try waitUntil("connected after the journal") { engine.stats.connected }
        XCTAssertEqual(engine.stats.counts.accepted, 2, "processed before the engine subscribed")
        XCTAssertEqual(engine.stats.counts.duplicates, 1)
        engine.stop()
        try await task.value
        let store = try Store(path: db, create: false)
        XCTAssertEqual(try store.state(LiveEngine.journalPositionName).map { String(decoding: $0, as: UTF8.self) }, end.description)
        XCTAssertEqual(try store.incidents().count, 1)
        store.close()

        (engine, task) = try start(InMemorySource(), clock: ManualClock(t0 + 2_000))
        try waitUntil("connected") { engine.stats.connected }
        engine.stop()
        try await task.value
        XCTAssertEqual(engine.stats.counts.accepted + engine.stats.counts.duplicates, 0, "committed records are not processed again")
    }

    /// A commit is on disk only once a checkpoint has synced the store's write-ahead log (`synchronous = NORMAL`):
    /// until then the journal segments it covers stay, so a power cut right after a commit still finds its messages.
    func testJournalSegmentsAreRemovedOnlyOnceTheCommitsPastThemAreSynced() async throws {
        let t0 = Instant(ms: 1_780_000_000_000)
        var tuning = Self.noTicks
        tuning.journalSegmentBytes = 1_000
        tuning.checkpointPages = 1_000_000  // no checkpoint during the first part
        let source = InMemorySource()
        var (engine, task) = try start(source, clock: ManualClock(t0 + 1_000), tuning: tuning)
        try waitUntil("connected") { engine.stats.connected }
        for i in 0..<4 {
            source.deliver(alarms(5, from: t0 + Millis(i * 10)))
            try waitUntil("committed") { engine.stats.counts.accepted + engine.stats.counts.duplicates == (i + 1) * 5 }
        }
        let segments = { try FileManager.default.contentsOfDirectory(atPath: self.db + ".journal").filter { $0.hasSuffix(".jnl") }.count }
        let written = try segments()
        XCTAssertGreaterThan(written, 3, "the messages filled several segments")
        XCTAssertTrue(FileManager.default.fileExists(atPath: db + ".journal/000000000001.jnl"),
                      "no segment is removed before the log is synced")
        engine.stop()
        try await task.value

        tuning.checkpointPages = 1  // a checkpoint after every commit
        let again = InMemorySource()
        (engine, task) = try start(again, clock: ManualClock(t0 + 2_000), tuning: tuning)
        try waitUntil("connected") { engine.stats.connected }
        let before = engine.stats.counts.accepted + engine.stats.counts.duplicates
        for i in 0..<3 {
            again.deliver(alarms(5, from: t0 + Millis(100 + i * 10)))
            try waitUntil("committed") { engine.stats.counts.accepted + engine.stats.counts.duplicates == before + (i + 1) * 5 }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + ".journal/000000000001.jnl"),
                       "segments behind synced commits are removed")
        XCTAssertLessThan(try segments(), written)
        engine.stop()
        try await task.value
    }

    func testEveryMessageIsJournaledBeforeItCanBeTakenAndStampedWithItsPosition() async throws {
        let t0 = Instant(ms: 1_780_000_000_000)
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: ManualClock(t0 + 1_000), tuning: Self.noTicks)
        try waitUntil("connected") { engine.stats.connected }
        source.deliver(alarms(3, from: t0))
        try waitUntil("committed") { engine.stats.counts.accepted == 3 }
        engine.stop()
        try await task.value
        var journaled: [String] = []
        try IngressJournal(directory: db + ".journal").records(after: .start) { journaled.append($0.topic) }
        XCTAssertEqual(journaled, alarms(3, from: t0).map(\.topic))
    }

    func testASecondEngineOnTheStoreIsRefusedNamingTheHolderAndTheStoreIsFreeAfterItStops() async throws {
        let (engine, task) = try start(InMemorySource(), clock: ManualClock(Instant(ms: 1_780_000_000_000)))
        XCTAssertThrowsError(try LiveEngine(config: try config(), source: InMemorySource(), log: { _ in })) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("in use by another City Eye engine") && text.contains("pid \(getpid())"), text)
        }
        engine.stop()
        try await task.value
        XCTAssertNoThrow(try LiveEngine(config: try config(), source: InMemorySource(), log: { _ in }))
    }

    func testAStoreHeldByAnotherProcessIsWaitedOutAndNothingIsLost() async throws {
        let t0 = Instant(ms: 1_780_000_000_000)
        var tuning = LiveTuning()
        tuning.storeBusyTimeoutMs = 100
        tuning.retryLimitSeconds = 0.2
        let logged = Seen<String>()
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: ManualClock(t0 + 1_000), tuning: tuning, log: { logged.add($0) })
        try waitUntil("connected") { engine.stats.connected }
        let holder = try StoreWriteHolder(store: db)
        source.deliver(alarms(50, from: t0))
        try waitUntil("the fault logged") { logged.all.contains { $0.contains("another process holds a write transaction") } }
        try await Task.sleep(nanoseconds: 500_000_000)
        XCTAssertEqual(engine.stats.counts.accepted, 0, "nothing commits while the store is held")
        XCTAssertEqual(logged.all.filter { $0.contains("another process holds") }.count, 1, "said once, not per retry")
        holder.release()
        try waitUntil("all committed after the lock went") { engine.stats.counts.accepted == 50 }
        XCTAssertTrue(logged.all.contains { $0.contains("writing again") })
        engine.stop()
        try await task.value
        XCTAssertEqual(try LiveFixture.incidents(store: db).first?.count, 50, "each alarm counted once: the held batch was not applied twice")
    }
}
