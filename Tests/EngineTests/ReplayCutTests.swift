import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Rules
import Store
@testable import Engine

/// A replay cut short at any batch and run again ends exactly as one uninterrupted replay: same incidents, audit
/// trail and dead letters (none recorded twice), because each batch commits everything it changed together.
final class ReplayCutTests: XCTestCase {
    struct Outcome: Equatable {
        var incidents: [Incident]
        var audit: [AuditEntry]
        var deadLetters: [String]
    }

    func outcome(_ path: String) throws -> Outcome {
        let s = try Store(path: path, create: false)
        defer { s.close() }
        return Outcome(incidents: try s.incidents(), audit: try s.allAudit(),
                       deadLetters: try s.deadLetters().map { "\($0.receivedAt) \($0.reason) \($0.detail) \($0.payload)" })
    }

    /// Each scenario's log with two malformed lines in it, cut at random batches (seeded: the same cuts each run).
    func testAReplayCutAtRandomBatchesAndRunAgainEqualsOneUninterruptedReplay() throws {
        var rng = SeededGenerator(seed: 11)
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        var cases = 0
        for scenario in try ScenarioLog.all() {
            let (name, log) = (scenario.name, scenario.file)
            let registry = try RegistryLoader.load(path: scenario.registryPath)
            var lines = scenario.lines
            lines.insert("{broken", at: 1 + Int.random(in: 0..<(lines.count - 1), using: &rng))
            lines.insert("{\"id\":\"x\"}", at: 1 + Int.random(in: 0..<(lines.count - 1), using: &rng))
            let logPath = (try tempDB() as NSString).deletingLastPathComponent + "/" + log
            try (lines.joined(separator: "\n") + "\n").write(toFile: logPath, atomically: true, encoding: .utf8)

            let whole = try tempDB()
            _ = try Replay.run(try Pipeline(registry: registry, rules: rules, store: try Store(path: whole)), files: [logPath])
            let expected = try outcome(whole)
            XCTAssertFalse(expected.incidents.isEmpty, name)
            XCTAssertGreaterThanOrEqual(expected.deadLetters.count, 2, name)

            for _ in 0..<4 {
                let batchSize = Int.random(in: 1...5, using: &rng)
                let cuts = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 0...(lines.count / batchSize), using: &rng) }
                let db = try tempDB()
                for cut in cuts {
                    let p = try Pipeline(registry: registry, rules: rules, store: try Store(path: db))
                    XCTAssertThrowsError(try Replay.runCut(p, files: [logPath], batchSize: batchSize, batches: cut)) { XCTAssertTrue($0 is ReplayCut) }
                    p.store.close()
                }
                let p = try Pipeline(registry: registry, rules: rules, store: try Store(path: db))
                _ = try Replay.run(p, files: [logPath], batchSize: batchSize)
                p.store.close()
                XCTAssertEqual(try outcome(db), expected, "\(name): batch size \(batchSize), cut after \(cuts) batches")
                cases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases, 32)
    }
}

extension ReplayCutTests {
    /// A store whose rule state an earlier version saved whole (one snapshot in `engine_state`) is read once and then
    /// saved by key: a replay cut, turned into such a store and run again, ends as one uninterrupted replay.
    func testAStoreWithTheRuleStateSavedWholeIsCarriedOnAndSavedByKey() throws {
        let dir = Repo.scenarios.appendingPathComponent("elderly")
        let registry = try RegistryLoader.load(path: dir.appendingPathComponent("registry.yaml").path)
        let rules = try RuleSet.load(directory: Repo.scenarios.path)
        let log = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .first { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") })
        let logPath = dir.appendingPathComponent(log).path
        let whole = try tempDB()
        _ = try Replay.run(try Pipeline(registry: registry, rules: rules, store: try Store(path: whole)), files: [logPath])

        let db = try tempDB()
        let cut = try Pipeline(registry: registry, rules: rules, store: try Store(path: db))
        XCTAssertThrowsError(try Replay.runCut(cut, files: [logPath], batchSize: 2, batches: 6))
        cut.store.close()
        let store = try Store(path: db, create: false)
        let keys = try store.ruleKeys()
        XCTAssertFalse(keys.isEmpty, "the elders' timers are pending after 12 lines")
        let clock = try XCTUnwrap(store.state("rules.clock")).asInstant
        let engine = RuleEngine(rules: rules, registry: registry)
        try engine.restore(clock: clock, keys: keys)
        try store.writeTransaction { tx in
            try tx.saveRuleKeys(removed: [], written: [], replaceAll: true)
            try tx.deleteState("rules.clock")
            try tx.setState("rules", try engine.snapshot())
        }
        store.close()

        let p = try Pipeline(registry: registry, rules: rules, store: try Store(path: db))
        _ = try Replay.run(p, files: [logPath], batchSize: 2)
        p.store.close()
        XCTAssertEqual(try outcome(db), try outcome(whole))
        let after = try Store(path: db, create: false)
        defer { after.close() }
        XCTAssertNil(try after.state("rules"), "the whole snapshot is gone once saved by key")
        XCTAssertEqual(try after.ruleKeys().map { "\($0.rule) \($0.key)" },
                       try Store(path: whole, create: false).ruleKeys().map { "\($0.rule) \($0.key)" })
    }
}

private extension Array where Element == UInt8 {
    var asInstant: Instant? { Int64(String(decoding: self, as: UTF8.self)).map(Instant.init(ms:)) }
}

/// A small deterministic generator (SplitMix64), so a failing cut can be run again.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
