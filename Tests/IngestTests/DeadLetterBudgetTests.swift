import XCTest
import Model
@testable import Ingest

final class DeadLetterBudgetTests: XCTestCase {
    let t0 = Instant(ms: 1_000 * Durations.hour)

    func testOneSourceIsLimitedPerMinuteAndTheRestCounted() {
        var policy = DeadLetterPolicy()
        policy.perSourcePerMinute = 3
        var b = DeadLetterBudget(policy: policy)
        var tally = DeadLetterTally()
        let kept = (0..<10).filter { i in
            tally.add(reason: .badJSON, topic: "cityeye/c/gw-1", at: t0 + Millis(i))
            return b.admit(source: "gw-1", at: t0 + Millis(i))
        }
        XCTAssertEqual(kept, [0, 1, 2])
        XCTAssertTrue(b.admit(source: "gw-2", at: t0 + 20), "another source has its own budget")
        XCTAssertEqual(tally.counted, [DeadLetterCount(reason: .badJSON, topic: "cityeye/c/gw-1", count: 10, firstAt: t0, lastAt: t0 + 9)])
        XCTAssertEqual(tally.counted[0].count - kept.count, 7, "the rest are counted, not kept")
        tally.removeAll()
        XCTAssertTrue(tally.isEmpty, "counts are handed over once")
        XCTAssertTrue(b.admit(source: "gw-1", at: t0 + Durations.minute), "a new minute")
    }

    /// A publisher that changes its topic (or claims another device) on every message is still bounded.
    func testVaryingTheTopicDoesNotGetRoundTheOverallLimit() {
        var policy = DeadLetterPolicy()
        policy.overallPerMinute = 50
        var b = DeadLetterBudget(policy: policy)
        var tally = DeadLetterTally()
        var kept = 0
        for i in 0..<10_000 {
            tally.add(reason: .unknownDevice, topic: "cityeye/x/\(i)", at: t0 + Millis(i % 60_000))
            if b.admit(source: "topic-\(i)", at: t0 + Millis(i % 60_000)) { kept += 1 }
        }
        XCTAssertEqual(kept, 50)
        XCTAssertEqual(tally.counted.map(\.count).reduce(0, +) - kept, 9_950, "every message is accounted for")
    }

    /// On the engine's clock, not the wall clock: the same input keeps the same letters every time.
    func testTheSameInputKeepsTheSameLetters() {
        func run() -> [Bool] {
            var policy = DeadLetterPolicy()
            policy.perSourcePerMinute = 2
            var b = DeadLetterBudget(policy: policy)
            return (0..<200).map { i in b.admit(source: "d\(i % 7)", at: t0 + Millis(i * 997)) }
        }
        XCTAssertEqual(run(), run())
        XCTAssertTrue(run().contains(false))
    }

    /// A budget saved mid-minute and restored decides the rest of the minute as the one that went on.
    func testASavedBudgetGoesOnWhereItStopped() {
        var policy = DeadLetterPolicy()
        policy.perSourcePerMinute = 4
        policy.overallPerMinute = 10
        let sources = ["gw-1", "cityeye/长征桥/gw-2", "gw-3"]
        func admit(_ b: inout DeadLetterBudget, _ range: Range<Int>) -> [Bool] {
            range.map { i in b.admit(source: sources[i % 3], at: t0 + Millis(i * 100)) }
        }
        var whole = DeadLetterBudget(policy: policy)
        let expected = admit(&whole, 0..<40)
        var first = DeadLetterBudget(policy: policy)
        let head = admit(&first, 0..<7)
        var second = DeadLetterBudget(policy: policy)
        XCTAssertTrue(second.restore(first.snapshot()))
        XCTAssertEqual(head + admit(&second, 7..<40), expected)
        XCTAssertEqual(expected.filter { $0 }.count, 10, "the overall limit held across the save")
    }

    func testAnUnreadableSavedBudgetStartsAFreshWindow() {
        var b = DeadLetterBudget()
        XCTAssertFalse(b.restore([1, 2, 3]))
        var saved = DeadLetterBudget().snapshot()
        saved += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]   // a source length far past the end
        XCTAssertFalse(b.restore(saved))
        XCTAssertTrue(b.admit(source: "gw-1", at: t0))
    }

    func testThePayloadCapNeverExceedsTheContract() {
        var p = DeadLetterPolicy()
        p.payloadCap = 1 << 30
        XCTAssertEqual(p.effectivePayloadCap, DeadLetter.maxPayloadBytes)
        p.payloadCap = 512
        XCTAssertEqual(p.effectivePayloadCap, 512)
    }

    /// An attacker's 64 KiB topics are counted under their first 256 bytes, cut on a whole character.
    func testTheTallyCutsTopicsTo256BytesOnACharacterBoundary() {
        var tally = DeadLetterTally()
        let long = "cityeye/" + String(repeating: "长", count: 30_000)
        tally.add(reason: .badJSON, topic: long, at: t0)
        tally.add(reason: .badJSON, topic: long + "x", at: t0 + 5)
        let counted = tally.counted
        XCTAssertEqual(counted.count, 1)
        XCTAssertEqual(counted[0].count, 2)
        XCTAssertLessThanOrEqual(counted[0].topic.utf8.count, DeadLetterCount.maxTopicBytes)
        XCTAssertGreaterThan(counted[0].topic.utf8.count, DeadLetterCount.maxTopicBytes - 3)
        XCTAssertTrue(long.hasPrefix(counted[0].topic))
        XCTAssertEqual(counted[0].lastAt, t0 + 5)
        XCTAssertEqual(DeadLetterCount.cut("short"), "short")
    }
}
