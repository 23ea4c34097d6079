import XCTest
import Foundation
import Model
@testable import Rules

/// The rule state is saved by key with each batch (only what the batch changed). Applying every batch's changes to
/// what was saved before must always give exactly the whole state, and it must restore to the same engine.
final class RuleStateByKeyTests: XCTestCase {
    typealias H = RuleHarness
    let stuck: [String: JSONValue] = ["floor": 3, "moving": false, "door": "closed", "between_floors": true, "occupants": 2]
    let free: [String: JSONValue] = ["floor": 3, "moving": false, "door": "open", "between_floors": false, "occupants": 0]

    /// A store's rows after applying changes as `WriteTransaction.saveRuleKeys` does.
    func apply(_ c: RuleStateChanges, to rows: inout [String: [UInt8]]) {
        if c.replaceAll { rows.removeAll() }
        for r in c.removed { rows["\(r.rule) \(r.key)"] = nil }
        for w in c.written { rows["\(w.rule) \(w.key)"] = w.state }
    }

    func whole(_ e: RuleEngine) -> [String: [UInt8]] {
        Dictionary(uniqueKeysWithValues: e.allState().written.map { ("\($0.rule) \($0.key)", $0.state) })
    }

    /// Keys made, changed, dropped when idle and made again (their slots reused by other keys), timers fired, windows
    /// swept: after each batch the saved rows equal the whole state.
    func testSavedChangesAlwaysAddUpToTheWholeState() throws {
        let h = try H()
        h.engine.tracksStateChanges = true
        var rows: [String: [UInt8]] = [:]
        var batches = 0
        func batch(_ steps: () -> Void) {
            steps()
            apply(h.engine.takeStateChanges(), to: &rows)
            XCTAssertEqual(rows, whole(h.engine), "after batch \(batches)")
            batches += 1
        }
        batch {
            h.send("elev-1", .elevatorStatus, H.t("10:00:00"), stuck)
            h.send("door-1", .doorContact, H.t("10:00:01"), ["open": true])
            for (i, p) in ["p-1", "p-2", "p-3"].enumerated() {
                h.send("venue-1", .venueVisit, H.t("10:00:0\(i + 2)"), ["person": .string(p), "elderly": true])
            }
        }
        XCTAssertGreaterThanOrEqual(rows.count, 5)
        batch { h.send("elev-1", .elevatorStatus, H.t("10:00:20"), free) }          // a key goes idle: removed
        batch {
            h.send("elev-1", .elevatorStatus, H.t("10:01:00"), stuck)               // and is made again
            h.send("wm-1", .waterUsage, H.t("10:01:00"), ["liters": 16.5])
        }
        batch { h.advance(H.t("10:30:00")) }                                         // timers fire
        batch { h.advance(H.t("12:00:00", day: 25)) }                                // windows swept, days pass
        batch {}                                                                     // nothing changed
        batch { h.advance(H.t("12:00:00", day: 26)) }
        let restored = try H()
        try restored.engine.restore(clock: h.engine.clock,
                                    keys: rows.sorted { $0.key < $1.key }.map { row in
                                        let (rule, key) = row.key.split(separator: " ", maxSplits: 1).map(String.init).pair
                                        return SavedRuleKey(rule: rule, key: key, state: row.value)
                                    })
        XCTAssertEqual(restored.engine.savedState().withoutGenerations, h.engine.savedState().withoutGenerations)
    }

    func testARestoredEngineCarriesOnAsTheOneItWasSavedFrom() throws {
        let a = try H()
        a.send("door-1", .doorContact, H.t("08:00:00"), ["open": true])
        let b = try H()
        let saved = a.engine.allState()
        let dropped = try b.engine.restore(clock: saved.clock, keys: saved.written)
        XCTAssertTrue(dropped.isEmpty)
        b.advance(H.t("08:00:00", day: 25))
        XCTAssertEqual(b.occurrences("elderly.inactivity").map(\.1), [H.t("08:00:00", day: 25)],
                       "a restart does not reset an elder's inactivity clock")
    }

    func testKeysOfRulesOrDevicesThatAreGoneAreDroppedAndReported() throws {
        let a = try H()
        a.send("door-1", .doorContact, H.t("08:00:00"), ["open": true])
        var keys = a.engine.allState().written
        let real = try XCTUnwrap(keys.first)
        var ghost = SavedKeyState(bytes: real.state)!
        ghost.device = "demolished-1"
        keys.append(SavedRuleKey(rule: real.rule, key: "demolished-1", state: ghost.bytes))
        keys.append(SavedRuleKey(rule: "retired.rule", key: "k", state: real.state))
        let b = try H()
        let dropped = try b.engine.restore(clock: a.engine.clock, keys: keys)
        XCTAssertEqual(Set(dropped.map { "\($0.rule) \($0.key)" }), ["\(real.rule) demolished-1", "retired.rule k"])
        XCTAssertEqual(b.engine.trackedKeys, a.engine.trackedKeys)
    }

    func testTheKeyCodecReadsBackWhatItWroteAndRefusesDamage() throws {
        let s = SavedKeyState(device: "长者/7 \u{0}", due: -5, gen: .max, fired: true, times: [1, -2, .max],
                              values: [0.5, -.infinity, .nan], first: nil, last: 42, open: true)
        let back = try XCTUnwrap(SavedKeyState(bytes: s.bytes))
        XCTAssertEqual(back.device, s.device)
        XCTAssertEqual(back.due, -5); XCTAssertEqual(back.last, 42); XCTAssertNil(back.first)
        XCTAssertEqual(back.times, s.times)
        XCTAssertEqual(back.values.map(\.bitPattern), s.values.map(\.bitPattern))
        for cut in 0..<s.bytes.count { XCTAssertNil(SavedKeyState(bytes: Array(s.bytes.prefix(cut))), "cut at \(cut)") }
        XCTAssertNil(SavedKeyState(bytes: s.bytes + [0]), "trailing bytes")
        var wrongVersion = s.bytes
        wrongVersion[0] = 99
        XCTAssertNil(SavedKeyState(bytes: wrongVersion))
        let h = try H()
        XCTAssertThrowsError(try h.engine.restore(clock: nil, keys: [SavedRuleKey(rule: "r", key: "k", state: [1, 2])]))
    }
}

private extension RuleEngine.Snapshot {
    /// A restore starts each key's timer generation afresh; everything else must be as saved.
    var withoutGenerations: Self {
        var s = self
        s.rules = s.rules.mapValues { $0.mapValues { var k = $0; k.gen = 0; return k } }
        return s
    }
}

private extension Array where Element == String {
    var pair: (String, String) { (self[0], count > 1 ? self[1] : "") }
}
