import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Rules
import Store
import Incidents
@testable import Ingest
@testable import Engine

/// Replays every log under `scenarios/<scenario>/` and compares the incidents with `<log>.expected.jsonl`,
/// and the counts with `<log>.expected-summary.json` — files written by hand from SPEC, not by the engine.
final class ScenarioPackTests: XCTestCase {
    /// The packs are the first users of `cityeye rules test`: the same finder, replay and comparison.
    func testEveryScenarioLogProducesItsExpectedIncidents() throws {
        let tests = RuleTests.find(in: Repo.scenarios.path)
        XCTAssertGreaterThanOrEqual(tests.count, 16, "every scenario ships at least one log with expected incidents")
        XCTAssertGreaterThanOrEqual(tests.filter { $0.name.contains("/independent/") }.count, 8,
                                    "and an independent pack written separately from SPEC")
        for t in tests {
            XCTAssertNotNil(t.summary, "\(t.name) has expected counts")
            let r = RuleTests.run(t, rules: Repo.scenarios.path, scratch: try temporaryPath("cityeye-rule-tests"))
            XCTAssertTrue(r.passed, "\(t.name):\n" + r.differences.joined(separator: "\n"))
            XCTAssertGreaterThan(r.incidents, 0, t.name)
        }
    }

    func testReplayIsByteForByteDeterministic() throws {
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted()
            .map { dir.appendingPathComponent($0).path }
        XCTAssertFalse(logs.isEmpty)
        func run() throws -> ([Incident], [AuditEntry]) {
            let store = try Store(path: try tempDB())
            let pipeline = try Pipeline(registry: try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path),
                                        rules: try RuleSet.load(directory: Repo.scenarios.path), store: store)
            _ = try Replay.run(pipeline, files: logs)
            return (try store.incidents(), try store.allAudit())
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertFalse(a.0.isEmpty)
    }

    func testReplayingTheSameLogTwiceIntoOneStoreCountsOnlyDuplicates() throws {
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let log = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted().first)
        let path = try tempDB()
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        let first = try Replay.run(try Pipeline(registry: registry, rules: rules, store: try Store(path: path)),
                                   files: [dir.appendingPathComponent(log).path])
        let before = try Store(path: path).incidents()
        let second = try Replay.run(try Pipeline(registry: registry, rules: rules, store: try Store(path: path)),
                                    files: [dir.appendingPathComponent(log).path])
        XCTAssertEqual(second.counts.accepted, 0)
        XCTAssertEqual(second.counts.duplicates, first.counts.accepted + first.counts.duplicates)
        XCTAssertEqual(try Store(path: path).incidents(), before)
    }
    /// Changes staged and not yet written (a batch whose write failed) meet a worker's acknowledgement at the next
    /// batch: the acknowledgement must be kept, and so must the newer count.
    func testAWorkerActingWhileAReplayStagesABatchKeepsBothChanges() throws {
        let dir = Repo.scenarios.appendingPathComponent("elevator")
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let store = try Store(path: try tempDB())
        let pipeline = try Pipeline(registry: registry, rules: try RuleSet.load(directory: Repo.scenarios.path), store: store)
        func alarm(_ n: Int, _ time: String) {
            let line = #"{"id":"a\#(n)","ts":"2026-11-24T\#(time)+08:00","device":"czq-elev-01","type":"elevator.alarm","data":{}}"#
            Array(line.utf8).withUnsafeBytes { _ = pipeline.handle($0, topic: "cityeye/changzhengqiao/czq-elev-01") }
        }
        alarm(1, "08:00:00")
        try pipeline.process(batch: NoMessages(), now: nil)
        let raised = try XCTUnwrap(try store.incidents().first { $0.rule == "elevator.alarm" })
        alarm(2, "08:01:00")  // staged: count 2, not yet committed
        try store.writeTransaction { tx in
            let current = try XCTUnwrap(try tx.incident(id: raised.id))
            let (acked, entry) = try IncidentDesk.apply(.acknowledge, to: current, by: raised.assignee, registry: registry,
                                                        at: RFC3339.parse("2026-11-24T08:00:30+08:00")!)
            try tx.upsert([acked])
            try tx.append([entry])
        }
        try pipeline.process(batch: NoMessages(), now: nil)
        let after = try XCTUnwrap(try store.incidents().first { $0.id == raised.id })
        XCTAssertEqual(after.status, .acknowledged, "the worker's acknowledgement survives the replay's commit")
        XCTAssertEqual(after.count, 2, "and the replay's repeat is kept")
    }
}

extension XCTestCase {
    /// A store path in a fresh temporary folder, removed when the test ends.
    func tempDB() throws -> String { try temporaryPath("cityeye-tests") + "/store.db" }
}
