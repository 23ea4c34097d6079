import XCTest
import Foundation
import TestSupport
import Model
import Store
import Registry
import Rules
@testable import Engine

/// Dead letters within a budget (docs/contract.md §3), through the pipeline into real SQLite files: the rate limit on
/// the dead-letter clock, the payload cap, the retention (age, size) and the per-(reason, topic) counts that survive it.
final class DeadLetterBudgetEngineTests: XCTestCase {
    static let elevator = Repo.scenarios.appendingPathComponent("elevator")
    static let gateway = "cityeye/changzhengqiao/czq-elev-01"
    let t0 = RFC3339.parse("2026-11-24T08:00:00+08:00")!
    var dir = ""
    var registry: Registry!
    var noRules: RuleSet!

    override func setUpWithError() throws {
        dir = try temporaryPath("cityeye-dl")
        registry = try RegistryLoader.load(path: Self.elevator.appendingPathComponent("registry.yaml").path)
        try FileManager.default.createDirectory(atPath: dir + "/no-rules", withIntermediateDirectories: true)
        noRules = try RuleSet.load(directory: dir + "/no-rules")
    }

    func pipeline(_ policy: DeadLetterPolicy = DeadLetterPolicy(), db: String = "store.db") throws -> Pipeline {
        try Pipeline(registry: registry, rules: noRules, store: try Store(path: dir + "/" + db), deadLetters: policy)
    }

    static func accepted(_ id: String, _ ts: String) -> String {
        #"{"id":"\#(id)","ts":"\#(ts)","device":"czq-elev-01","type":"elevator.alarm","data":{}}"#
    }

    /// Names the device but not a known type: rejected `unknown_type`, limited per device.
    static func garbage(_ i: Int, _ ts: String, device: String = "czq-elev-01") -> String {
        #"{"id":"g\#(i)","ts":"\#(ts)","device":"\#(device)","type":"elevator.nope","data":{}}"#
    }

    func writeLog(_ lines: [String], _ name: String = "flood.jsonl") throws -> String {
        let path = dir + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func total(_ counts: [DeadLetterCount]) -> Int { counts.map(\.count).reduce(0, +) }

    // MARK: the rate limit

    func testAReplayedFloodFromOneDeviceKeepsItsPerMinuteLimitAndCountsEveryLine() throws {
        let lines = [Self.accepted("a1", "2026-11-24T08:00:00+08:00")]
            + (0..<10_000).map { Self.garbage($0, "2026-11-24T08:00:\(String(format: "%02d", $0 % 60))+08:00") }
        let log = try writeLog(lines)
        let p = try pipeline()
        let summary = try Replay.run(p, files: [log], batchSize: 4_096)
        XCTAssertEqual(summary.counts.rejected, [.unknownType: 10_000], "every rejection is in the summary")
        let kept = try p.store.deadLetters()
        XCTAssertEqual(kept.count, DeadLetterPolicy().perSourcePerMinute)
        XCTAssertEqual(kept.map { $0.detail.split(separator: ":")[1] }, (2...61).map { Substring(String($0)) },
                       "the first lines of the minute are kept")
        XCTAssertEqual(try p.store.deadLetterCountsByTopic(),
                       [DeadLetterCount(reason: .unknownType, topic: "", count: 10_000, firstAt: t0, lastAt: t0)])
        // The same log again into a new store keeps the same lines.
        let again = try pipeline(db: "again.db")
        _ = try Replay.run(again, files: [log])
        XCTAssertEqual(try again.store.deadLetters(), kept)
    }

    /// Live: messages that vary their topic and claim unknown devices are held by the overall limit per minute.
    func testVaryingTopicsAndDevicesIsHeldByTheOverallLimit() throws {
        var policy = DeadLetterPolicy()
        policy.overallPerMinute = 50
        let p = try pipeline(policy)
        let flood = (0..<500).map { i in (Self.garbage(i, "2026-11-24T08:00:00+08:00", device: "fake-\(i)"), "cityeye/x/\(i)") }
        try p.process(batch: Messages(flood), now: t0)
        XCTAssertEqual(try p.store.deadLetters().count, 50)
        try p.process(batch: Messages(Array(flood.prefix(10))), now: t0 + Durations.minute)
        XCTAssertEqual(try p.store.deadLetters().count, 60, "a new minute keeps again")
        let counts = try p.store.deadLetterCountsByTopic()
        XCTAssertEqual(counts.count, 500, "one count per (reason, topic)")
        XCTAssertEqual(total(counts), 510)
        XCTAssertEqual(Set(counts.map(\.reason)), [.unknownDevice])
        XCTAssertEqual(p.counts.rejectedTotal, 510)
    }

    func testThePayloadIsCutToTheConfiguredCap() throws {
        var policy = DeadLetterPolicy()
        policy.payloadCap = 100
        let p = try pipeline(policy)
        let big = "{" + String(repeating: "x", count: 5_000)
        try p.process(batch: Messages([(big, Self.gateway)]), now: t0)
        let kept = try XCTUnwrap(try p.store.deadLetters().first)
        XCTAssertEqual(kept.payload, Array(big.utf8.prefix(100)))
        XCTAssertEqual(kept.reason, .badJSON)
        XCTAssertEqual(try p.store.deadLetterTotal().payloadBytes, 100)
    }

    // MARK: retention

    func testDeadLettersOlderThanTheMaxAgeOnTheEngineClockAreDeletedAndTheirCountsStay() throws {
        var policy = DeadLetterPolicy()
        policy.maxAge = Durations.hour
        let p = try pipeline(policy)
        try p.process(batch: Messages([("{old", Self.gateway), ("{old2", Self.gateway)]), now: t0)
        try p.process(batch: Messages([("{newer", Self.gateway)]), now: t0 + 30 * Durations.minute)
        XCTAssertEqual(try p.store.deadLetters().count, 3, "nothing is an hour old yet")
        try p.process(batch: NoMessages(), now: t0 + 61 * Durations.minute)
        XCTAssertEqual(try p.store.deadLetters().map { String(decoding: $0.payload, as: UTF8.self) }, ["{newer"])
        try p.process(batch: NoMessages(), now: t0 + 2 * Durations.hour)
        XCTAssertEqual(try p.store.deadLetters(), [])
        XCTAssertEqual(try p.store.deadLetterTotal().rows, 0)
        XCTAssertEqual(try p.store.deadLetterCountsByTopic(),
                       [DeadLetterCount(reason: .badJSON, topic: Self.gateway, count: 3, firstAt: t0, lastAt: t0 + 30 * Durations.minute)])
    }

    func testOverTheTotalSizeTheOldestAreDeletedFirst() throws {
        var policy = DeadLetterPolicy()
        policy.maxTotalBytes = 10_000
        let p = try pipeline(policy)
        for minute in 0..<30 {
            let payload = "{" + String(format: "%03d", minute) + String(repeating: "x", count: 996)
            try p.process(batch: Messages([(payload, Self.gateway)]), now: t0 + Millis(minute) * Durations.minute)
        }
        let kept = try p.store.deadLetters()
        XCTAssertEqual(kept.map { String(decoding: $0.payload.prefix(4), as: UTF8.self) }, (20..<30).map { "{0\($0)" },
                       "the newest ten (10,000 bytes) are kept")
        XCTAssertLessThanOrEqual(try p.store.deadLetterTotal().payloadBytes, policy.maxTotalBytes)
        XCTAssertEqual(total(try p.store.deadLetterCountsByTopic()), 30, "every rejection is still counted")
    }

    /// A store holding far more than its budget (e.g. from before the budget) is brought under it a bounded pass at a
    /// time, and completely at the end of a replay.
    func testAStoreFarOverItsBudgetCatchesUpInBoundedPasses() throws {
        var policy = DeadLetterPolicy()
        policy.maxTotalBytes = 1_000
        let old = (0..<25_000).map { i in
            DeadLetter(topic: "t", payload: Array("p\(i)".utf8), reason: .badJSON, detail: "", receivedAt: t0)
        }
        let store = try Store(path: dir + "/store.db")
        try store.writeTransaction { try $0.append(old) }
        let rows = try store.writeTransaction { tx in
            try tx.pruneDeadLetters(receivedBefore: t0, maxPayloadBytes: 1_000, limit: DeadLetterKeeper.retentionPerPass)
        }
        XCTAssertEqual(rows.deleted, DeadLetterKeeper.retentionPerPass.rows)
        XCTAssertFalse(rows.complete)
        store.close()
        let p = try pipeline(policy)
        try p.process(batch: NoMessages(), now: t0)
        XCTAssertEqual(try p.store.deadLetterTotal().rows, 5_000, "the next batch goes on a pass at a time")
        p.retainDeadLettersAtNextBatch()
        try p.process(batch: NoMessages(), now: t0)
        let total = try p.store.deadLetterTotal()
        XCTAssertLessThanOrEqual(total.payloadBytes, 1_000)
        XCTAssertEqual(total.rows, try p.store.deadLetters().count)
        XCTAssertEqual(try p.store.deadLetters().last?.payload, Array("p24999".utf8), "the newest stay")
    }

    // MARK: a replay cut short

    /// A flood over several minutes, cut at random batches and run again, keeps exactly what one uninterrupted replay
    /// keeps, and counts nothing twice.
    func testAReplayCutShortAndRunAgainKeepsAndCountsExactlyAsOneReplay() throws {
        var policy = DeadLetterPolicy()
        policy.perSourcePerMinute = 3
        policy.overallPerMinute = 5
        var lines: [String] = []
        for minute in 0..<4 {
            let ts = "2026-11-24T08:0\(minute):00+08:00"
            lines.append(Self.accepted("a\(minute)", ts))
            lines += (0..<12).map { Self.garbage(minute * 100 + $0, ts, device: $0 % 2 == 0 ? "czq-elev-01" : "czq-elev-02") }
            lines.append("{broken \(minute)")
        }
        let log = try writeLog(lines)
        // Each kept dead letter by its time, reason and line (a failure then reads as a list of lines).
        func outcome(_ p: Pipeline) throws -> ([String], [DeadLetterCount]) {
            (try p.store.deadLetters().map { "\($0.receivedAt) \($0.reason.rawValue) \($0.detail.prefix(16))" },
             try p.store.deadLetterCountsByTopic())
        }
        let whole = try pipeline(policy, db: "whole.db")
        _ = try Replay.run(whole, files: [log])
        let expected = try outcome(whole)
        XCTAssertEqual(expected.0.count, 4 * 5, "the overall limit each minute")
        XCTAssertEqual(total(expected.1), 4 * 13)
        var rng = SeededGenerator(seed: 12)
        for round in 0..<6 {
            let db = "cut\(round).db"
            let batchSize = Int.random(in: 1...7, using: &rng)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let p = try pipeline(policy, db: db)
                let cut = Int.random(in: 0...(lines.count / batchSize), using: &rng)
                XCTAssertThrowsError(try Replay.runCut(p, files: [log], batchSize: batchSize, batches: cut))
                p.store.close()
            }
            let p = try pipeline(policy, db: db)
            _ = try Replay.run(p, files: [log], batchSize: batchSize)
            let got = try outcome(p)
            XCTAssertEqual(got.0, expected.0, "round \(round), batch size \(batchSize)")
            XCTAssertEqual(got.1, expected.1, "round \(round), batch size \(batchSize)")
            _ = try Replay.run(p, files: [log], batchSize: batchSize)
            XCTAssertEqual(try outcome(p).1, expected.1, "the same log replayed again counts nothing twice")
        }
    }
}

/// (payload, topic) pairs as one batch.
private struct Messages: MessageBatch {
    let messages: [(String, String)]
    init(_ messages: [(String, String)]) { self.messages = messages }
    var source: String? { nil }
    func forEachMessage(_ body: (InboundMessage) throws -> Void) throws {
        for (payload, topic) in messages {
            try Array(payload.utf8).withUnsafeBytes { try body(InboundMessage(payload: $0, topic: topic)) }
        }
    }
}
