import XCTest
import Foundation
import TestSupport
import Model
import Store
import Registry
@testable import Engine

/// The one start-up (`EngineSetup.open`) and batches of any size through `Pipeline.process`.
final class EngineSetupAndBatchTests: XCTestCase {
    static let elevator = Repo.scenarios.appendingPathComponent("elevator")
    var dir = ""

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-setup")
    }

    var registry: String { Self.elevator.appendingPathComponent("registry.yaml").path }
    var rules: String { Repo.scenarios.path }
    var store: String { dir + "/store.db" }

    func logs() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: Self.elevator.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted()
            .map { Self.elevator.appendingPathComponent($0).path }
    }

    func testAMissingRegistryIsNamedAndNoStoreIsCreated() {
        XCTAssertThrowsError(try EngineSetup(registry: dir + "/nope.yaml", rules: rules, store: store).open()) {
            let e = $0 as? EngineError
            XCTAssertEqual(e?.code, .registryUnreadable)
            XCTAssertTrue("\($0)".hasPrefix("cannot read registry \(dir)/nope.yaml: "), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store))
    }

    func testAWrongRegistryOrRuleFileIsNamedWithItsLineAndNoStoreIsCreated() throws {
        let bad = dir + "/registry.yaml"
        try "communities:\n  - {id: a, name: A, timezone: Asia/Shanghai}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EngineSetup(registry: bad, rules: rules, store: store).open()) {
            XCTAssertEqual(($0 as? EngineError)?.code, .registryInvalid)
            XCTAssertTrue("\($0)".contains(bad), "\($0)")
        }
        let badRules = dir + "/rules"
        try FileManager.default.createDirectory(atPath: badRules, withIntermediateDirectories: true)
        try "rules:\n  - id: x\n    nonsense: true\n".write(toFile: badRules + "/r.yaml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EngineSetup(registry: registry, rules: badRules, store: store).open()) {
            XCTAssertEqual(($0 as? EngineError)?.code, .rulesInvalid)
            XCTAssertTrue("\($0)".contains(badRules + "/r.yaml:"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store))
    }

    func testOpenRecordsTheRegistryAndASecondOpenCarriesOnFromTheStore() throws {
        let first = try EngineSetup(registry: registry, rules: rules, store: store).open()
        let summary = try Replay.run(first, files: try logs())
        first.store.close()
        let recorded = try Deployment.registry(in: try Store(path: store, create: false))
        XCTAssertEqual(recorded?.communities.keys.sorted(), try RegistryLoader.load(path: registry).communities.keys.sorted())
        let again = try EngineSetup(registry: registry, rules: rules, store: store).open()
        XCTAssertEqual(again.clock, summary.clock, "the rule state saved at the end of the replay is picked up")
        XCTAssertEqual(again.openIncidents, summary.incidentsOpen)
    }

    /// Batch boundaries are invisible in the result: lines are neither lost nor handled twice where a batch ends.
    func testReplayInBatchesOfThreeLinesGivesTheSameIncidentsAndAuditAsOneBatch() throws {
        func replay(batchSize: Int, into path: String) throws -> (ReplaySummary, [Incident], [AuditEntry]) {
            let pipeline = try EngineSetup(registry: registry, rules: rules, store: path).open()
            let summary = try Replay.run(pipeline, files: try logs(), batchSize: batchSize)
            return (summary, try pipeline.store.incidents(), try pipeline.store.allAudit())
        }
        let whole = try replay(batchSize: Replay.batchSize, into: dir + "/whole.db")
        let small = try replay(batchSize: 3, into: dir + "/small.db")
        XCTAssertEqual(small.0.counts, whole.0.counts)
        XCTAssertEqual(small.1, whole.1)
        XCTAssertEqual(small.2, whole.2)
        XCTAssertFalse(whole.1.isEmpty)
        XCTAssertGreaterThan(whole.0.counts.accepted, 3 * 2, "the logs span several small batches")
    }

    /// A live batch: the clock stands at `now` after it, a message more than 5 min ahead of `now` is rejected, and the
    /// capture sees only what was accepted, and is flushed once every message is handled.
    func testALiveBatchRejectsWhatIsAheadOfNowAndCapturesOnlyAcceptedMessages() throws {
        let pipeline = try EngineSetup(registry: registry, rules: rules, store: store).open()
        let now = try XCTUnwrap(RFC3339.parse("2026-11-24T08:00:00+08:00"))
        let lines = [
            #"{"id":"a1","ts":"2026-11-24T08:00:00+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{}}"#,
            #"{"id":"a2","ts":"2026-11-24T08:06:00+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{}}"#,
            #"{broken"#,
        ]
        let capture = Captured()
        let handled = try pipeline.process(batch: Lines(lines: lines), now: now, capture: capture)
        XCTAssertEqual(handled, 3)
        XCTAssertEqual(pipeline.counts.accepted, 1)
        XCTAssertEqual(pipeline.counts.rejected[.clockSkew], 1)
        XCTAssertEqual(capture.ids, ["a1"])
        XCTAssertEqual(capture.flushedAfter, 1)
        XCTAssertEqual(pipeline.clock, now)
        XCTAssertEqual(try pipeline.store.deadLetters().count, 2)
    }
}

/// Text lines as a batch, each on `topic` (by default the elevator gateway's).
struct Lines: MessageBatch {
    let lines: [String]
    var topic = "cityeye/changzhengqiao/czq-elev-01"
    var source: String? { nil }
    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        for l in lines {
            try Array(l.utf8).withUnsafeBytes { try body(InboundMessage(payload: $0, topic: topic)) }
        }
    }
}

private final class Captured: BatchCapture {
    var ids: [String] = []
    var flushedAfter: Int?
    func append(_ message: InboundMessage, at now: Instant) throws {
        let text = String(decoding: message.payload, as: UTF8.self)
        ids.append(String(text.split(separator: "\"")[3]))
    }
    func flush(into tx: any StoreTransaction) throws { flushedAfter = ids.count }
    var position: String? { nil }
}
