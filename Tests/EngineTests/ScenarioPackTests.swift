import XCTest
import Foundation
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
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let scenarios = root.appendingPathComponent("scenarios")
    static let compared = ["id", "rule", "scenario", "severity", "key", "device", "subject", "community", "grid",
                           "first_seen", "last_seen", "count", "condition", "status", "assignee", "escalated", "overdue"]

    func testEveryScenarioLogProducesItsExpectedIncidents() throws {
        let packs = try FileManager.default.contentsOfDirectory(atPath: Self.scenarios.path).sorted()
        var checked = 0
        // Each scenario folder, and its `independent/` pack written separately from SPEC by another author.
        for pack in packs.flatMap({ [$0, $0 + "/independent"] }) {
            let dir = Self.scenarios.appendingPathComponent(pack)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            for log in files.sorted() where log.hasSuffix(".jsonl") && !log.hasSuffix(".expected.jsonl") {
                let base = String(log.dropLast(".jsonl".count))
                let expected = dir.appendingPathComponent(base + ".expected.jsonl")
                guard FileManager.default.fileExists(atPath: expected.path) else { continue }
                try check(pack: pack, dir: dir, base: base)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 16, "every scenario ships at least one log with expected incidents")
    }

    func testReplayIsByteForByteDeterministic() throws {
        let dir = Self.scenarios.appendingPathComponent("elevator")
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted()
            .map { dir.appendingPathComponent($0).path }
        XCTAssertFalse(logs.isEmpty)
        func run() throws -> ([Incident], [AuditEntry]) {
            let store = try Store(path: tempDB())
            let pipeline = try Pipeline(registry: try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path),
                                        rules: try RuleSet.load(directory: Self.scenarios.path), store: store)
            _ = try Replay.run(pipeline, files: logs)
            return (try store.incidents(), try store.allAudit())
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertFalse(a.0.isEmpty)
    }

    func testReplayingTheSameLogTwiceIntoOneStoreCountsOnlyDuplicates() throws {
        let dir = Self.scenarios.appendingPathComponent("elevator")
        let log = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted().first)
        let path = tempDB()
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let rules = try RuleSet.load(directory: Self.scenarios.path)
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
        let dir = Self.scenarios.appendingPathComponent("elevator")
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let store = try Store(path: tempDB())
        let pipeline = try Pipeline(registry: registry, rules: try RuleSet.load(directory: Self.scenarios.path), store: store)
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

    private func check(pack: String, dir: URL, base: String) throws {
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let rules = try RuleSet.load(directory: Self.scenarios.path)
        let store = try Store(path: tempDB())
        let pipeline = try Pipeline(registry: registry, rules: rules, store: store)
        let untilFile = dir.appendingPathComponent(base + ".until")
        let until = (try? String(contentsOf: untilFile, encoding: .utf8))
            .flatMap { RFC3339.parse($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let summary = try Replay.run(pipeline, files: [dir.appendingPathComponent(base + ".jsonl").path], until: until)

        let actual = try store.incidents().map(Self.fields)
        let expectedLines = try String(contentsOf: dir.appendingPathComponent(base + ".expected.jsonl"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let expected = try expectedLines.map { line -> [String: String] in
            let e = try JSONDecoder().decode(Expected.self, from: Data(line.utf8))
            return ["id": String(e.id), "rule": e.rule, "scenario": e.scenario, "severity": e.severity, "key": e.key,
                    "device": e.device, "subject": e.subject, "community": e.community, "grid": e.grid,
                    "first_seen": e.first_seen, "last_seen": e.last_seen, "count": String(e.count),
                    "condition": e.condition, "status": e.status, "assignee": e.assignee,
                    "escalated": String(e.escalated), "overdue": String(e.overdue)]
        }
        let label = "\(pack)/\(base)"
        XCTAssertEqual(actual.count, expected.count, "\(label): number of incidents\nactual: \(actual)")
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            for (k, v) in e where a[k] != v {
                XCTFail("\(label): incident #\(i + 1) field \(k): expected \(v), got \(a[k] ?? "nil")\n  actual: \(a)")
            }
        }
        let summaryFile = dir.appendingPathComponent(base + ".expected-summary.json")
        if let data = try? Data(contentsOf: summaryFile),
           let s = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
            if let n = s["accepted"] as? Int { XCTAssertEqual(summary.counts.accepted, n, "\(label): accepted") }
            if let n = s["duplicates"] as? Int { XCTAssertEqual(summary.counts.duplicates, n, "\(label): duplicates") }
            if let r = s["rejected"] as? [String: Int] {
                for (reason, n) in r {
                    XCTAssertEqual(summary.counts.rejected[RejectReason(rawValue: reason) ?? .badJSON] ?? 0, n, "\(label): rejected \(reason)")
                }
                XCTAssertEqual(summary.counts.rejectedTotal, r.values.reduce(0, +), "\(label): rejected total")
            }
        }
    }

    static func fields(_ i: Incident) -> [String: String] {
        ["id": String(i.id), "rule": i.rule, "scenario": i.scenario, "severity": i.severity.rawValue, "key": i.key,
         "device": i.device, "subject": i.subject, "community": i.community, "grid": i.grid,
         "first_seen": i.firstSeen.description, "last_seen": i.lastSeen.description, "count": String(i.count),
         "condition": i.condition.rawValue, "status": i.status.rawValue, "assignee": i.assignee,
         "escalated": String(i.escalated), "overdue": String(i.overdue)]
    }

    /// One line of `<log>.expected.jsonl`: the fields of `cityeye incidents --json` (SPEC §7).
    struct Expected: Decodable {
        var id: Int64
        var rule, scenario, severity, key, device, subject, community, grid, first_seen, last_seen: String
        var count: Int64
        var condition, status, assignee: String
        var escalated, overdue: Bool
    }
}

func tempDB() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cityeye-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("store.db").path
}
