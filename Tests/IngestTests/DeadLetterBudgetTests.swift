import XCTest
import Model
@testable import Ingest

final class DeadLetterBudgetTests: XCTestCase {
    let t0 = Instant(ms: 1_000 * Durations.hour)

    func testOneSourceIsLimitedPerMinuteAndTheRestCounted() {
        var policy = DeadLetterPolicy()
        policy.perSourcePerMinute = 3
        var b = DeadLetterBudget(policy: policy)
        let kept = (0..<10).filter { i in b.admit(source: "gw-1", reason: .badJSON, topic: "cityeye/c/gw-1", at: t0 + Millis(i)) }
        XCTAssertEqual(kept, [0, 1, 2])
        XCTAssertTrue(b.admit(source: "gw-2", reason: .badJSON, topic: "cityeye/c/gw-2", at: t0 + 20), "another source has its own budget")
        XCTAssertEqual(b.takeCounts(), [.init(reason: .badJSON, topic: "cityeye/c/gw-1"): 7])
        XCTAssertTrue(b.takeCounts().isEmpty, "counts are handed over once")
        XCTAssertTrue(b.admit(source: "gw-1", reason: .badJSON, topic: "cityeye/c/gw-1", at: t0 + Durations.minute), "a new minute")
    }

    /// A publisher that changes its topic (or claims another device) on every message is still bounded.
    func testVaryingTheTopicDoesNotGetRoundTheOverallLimit() {
        var policy = DeadLetterPolicy()
        policy.overallPerMinute = 50
        var b = DeadLetterBudget(policy: policy)
        var kept = 0
        for i in 0..<10_000 where b.admit(source: "topic-\(i)", reason: .unknownDevice, topic: "cityeye/x/\(i)", at: t0 + Millis(i % 60_000)) {
            kept += 1
        }
        XCTAssertEqual(kept, 50)
        XCTAssertEqual(b.takeCounts().values.reduce(0, +), 9_950, "every message is accounted for")
    }

    /// On the engine's clock, not the wall clock: the same log keeps the same dead letters every time.
    func testTheSameInputKeepsTheSameLetters() {
        func run() -> [Bool] {
            var policy = DeadLetterPolicy()
            policy.perSourcePerMinute = 2
            var b = DeadLetterBudget(policy: policy)
            return (0..<200).map { i in b.admit(source: "d\(i % 7)", reason: .badField, topic: "t", at: t0 + Millis(i * 997)) }
        }
        XCTAssertEqual(run(), run())
        XCTAssertTrue(run().contains(false))
    }

    func testThePayloadCapNeverExceedsTheContract() {
        var p = DeadLetterPolicy()
        p.payloadCap = 1 << 30
        XCTAssertEqual(p.effectivePayloadCap, DeadLetter.maxPayloadBytes)
        p.payloadCap = 512
        XCTAssertEqual(p.effectivePayloadCap, 512)
    }
}
