import XCTest
import Foundation
import Model
@testable import Rules

final class RulePrimitiveTests: XCTestCase {
    typealias H = RuleHarness
    let stuck: [String: JSONValue] = ["floor": 3, "moving": false, "door": "closed", "between_floors": true, "occupants": 2]
    let free: [String: JSONValue] = ["floor": 3, "moving": false, "door": "open", "between_floors": false, "occupants": 0]

    func testHeldFiresAtItsDueTimeWithNoFurtherEvent() throws {
        let h = try H()
        h.send("elev-1", .elevatorStatus, H.t("14:00:10"), stuck)
        h.advance(H.t("14:00:39.999"))
        XCTAssertTrue(h.occurrences("elevator.entrapment").isEmpty)
        h.advance(H.t("14:05:00"))
        let o = h.occurrences("elevator.entrapment")
        XCTAssertEqual(o.count, 1)
        XCTAssertEqual(o.first?.1, H.t("14:00:40"), "an occurrence of a hold is at its due time")
        XCTAssertEqual(o.first?.0, "elev-1")
        h.send("elev-1", .elevatorStatus, H.t("14:06:00"), stuck)
        XCTAssertEqual(h.occurrences("elevator.entrapment").count, 1, "a hold fires once")
        h.send("elev-1", .elevatorStatus, H.t("14:07:00"), free)
        XCTAssertEqual(h.clears("elevator.entrapment").count, 1)
    }

    func testInterruptedHoldDoesNotFire() throws {
        let h = try H()
        h.send("elev-1", .elevatorStatus, H.t("14:00:00"), stuck)
        h.send("elev-1", .elevatorStatus, H.t("14:00:29"), free)
        h.send("elev-1", .elevatorStatus, H.t("14:00:31"), stuck)
        h.advance(H.t("14:01:00.999"))
        XCTAssertTrue(h.occurrences("elevator.entrapment").isEmpty)
        h.advance(H.t("14:01:01"))
        XCTAssertEqual(h.occurrences("elevator.entrapment").map(\.1), [H.t("14:01:01")])
    }

    func testTimerDueAtAnEventsTimeFiresBeforeTheEvent() throws {
        let h = try H()
        h.send("elev-1", .elevatorStatus, H.t("14:00:00"), stuck)
        let out = h.send("elev-1", .elevatorStatus, H.t("14:00:30"), free)
        XCTAssertEqual(h.occurrences("elevator.entrapment", in: out).count, 1)
        XCTAssertEqual(h.clears("elevator.entrapment", in: out).count, 1)
        guard case .occurrence = out.first else { return XCTFail("the occurrence comes first: \(out)") }
    }

    func testAbsenceStartsAtFirstEventFiresOnceAndClearsOnNextEvent() throws {
        let h = try H()
        h.advance(H.t("10:00:00"))
        h.advance(H.t("11:00:00"))
        XCTAssertTrue(h.occurrences("elevator.offline").isEmpty, "no timer before the first event")
        h.send("elev-1", .elevatorHeartbeat, H.t("11:00:00"))
        h.send("elev-1", .elevatorHeartbeat, H.t("11:05:00"))
        h.advance(H.t("11:14:59"))
        XCTAssertTrue(h.occurrences("elevator.offline").isEmpty)
        h.advance(H.t("12:00:00"))
        XCTAssertEqual(h.occurrences("elevator.offline").map(\.1), [H.t("11:15:00")])
        h.send("elev-1", .elevatorStatus, H.t("12:01:00"), free)
        XCTAssertEqual(h.clears("elevator.offline").map(\.1), [H.t("12:01:00")])
        h.advance(H.t("12:11:00"))
        XCTAssertEqual(h.occurrences("elevator.offline").count, 2, "re-armed by the next event")
    }

    func testNotFollowedBy() throws {
        let h = try H()
        h.send("band-1", .bandFall, H.t("09:00:00"))
        h.send("band-1", .bandOk, H.t("09:00:59"))
        h.advance(H.t("09:10:00"))
        XCTAssertTrue(h.occurrences("elderly.fall").isEmpty)
        h.send("band-1", .bandFall, H.t("09:20:00"))
        h.advance(H.t("09:21:00"))
        XCTAssertEqual(h.occurrences("elderly.fall").map { $0.0 }, ["home-1"])
        XCTAssertEqual(h.occurrences("elderly.fall").map { $0.1 }, [H.t("09:21:00")])
    }

    func testChargingOvertimeClearsOnStopAfterFiring() throws {
        let h = try H()
        h.send("chg-1", .chargingSession, H.t("00:00:00"), ["port": 2, "state": "start"])
        h.advance(H.t("08:00:00"))
        XCTAssertEqual(h.occurrences("charging.overtime").map(\.0), ["chg-1/2"])
        h.send("chg-1", .chargingSession, H.t("09:00:00"), ["port": 2, "state": "stop"])
        XCTAssertEqual(h.clears("charging.overtime").map(\.0), ["chg-1/2"])
    }

    func testCountWindowBoundaryIsHalfOpen() throws {
        let h = try H()
        for m in [0, 2, 4, 6] { h.send("gate-1", .accessPass, H.t("10:0\(m):00"), ["result": "denied"]) }
        // Exactly 10 min after the first: the first has left (t − 10 min, t].
        h.send("gate-1", .accessPass, H.t("10:10:00"), ["result": "denied"])
        XCTAssertTrue(h.occurrences("access.repeated-denial").isEmpty)
        h.send("gate-1", .accessPass, H.t("10:10:01"), ["result": "denied"])
        XCTAssertEqual(h.occurrences("access.repeated-denial").count, 1)
        h.send("gate-1", .accessPass, H.t("10:10:02"), ["result": "granted"])
        XCTAssertEqual(h.occurrences("access.repeated-denial").count, 1)
    }

    func testForcedEntryLooksBackTenSeconds() throws {
        let h = try H()
        h.send("gate-1", .accessPass, H.t("10:00:00"), ["result": "granted"])
        h.send("gate-1", .accessDoor, H.t("10:00:09"), ["state": "open"])
        h.send("gate-1", .accessDoor, H.t("10:00:10"), ["state": "closed"])
        XCTAssertTrue(h.occurrences("access.forced-entry").isEmpty)
        h.send("gate-1", .accessDoor, H.t("10:00:10.500"), ["state": "open"])
        XCTAssertEqual(h.occurrences("access.forced-entry").count, 1, "the pass 10.5 s before is out of the window")
    }

    func testSumWindowAndFlaggedVenuesOnly() throws {
        let h = try H()
        for (m, n) in [(0, 8), (10, 8)] {
            h.send("venue-1", .venueFootfall, H.t("10:\(m == 0 ? "00" : "10"):00"), ["entered": 9, "elderly": JSONValue.number(Double(n))])
            h.send("venue-2", .venueFootfall, H.t("10:\(m == 0 ? "00" : "10"):00"), ["entered": 30, "elderly": 30])
        }
        XCTAssertTrue(h.occurrences("health_marketing.elderly-gathering").isEmpty)
        h.send("venue-1", .venueFootfall, H.t("10:29:00"), ["entered": 4, "elderly": 4])
        XCTAssertEqual(h.occurrences("health_marketing.elderly-gathering").map(\.0), ["shop-1"], "keyed by subject, unflagged venue ignored")
        h.send("venue-1", .venueFootfall, H.t("10:31:00"), ["entered": 4, "elderly": 4])
        XCTAssertEqual(h.occurrences("health_marketing.elderly-gathering").count, 1, "the first report left the window")
    }

    func testDistinctLocalDaysAcrossLocalMidnight() throws {
        let h = try H()
        // 23:50 and 00:10 local are two local days although both are 15:xx/16:xx UTC of one day.
        h.send("venue-1", .venueVisit, H.t("23:50:00", day: 20), ["person": "p-8812", "elderly": true])
        h.send("venue-1", .venueVisit, H.t("00:10:00", day: 21), ["person": "p-8812", "elderly": true])
        XCTAssertTrue(h.occurrences("health_marketing.repeat-visitor").isEmpty)
        h.send("venue-1", .venueVisit, H.t("10:00:00", day: 21), ["person": "p-8812", "elderly": true])
        XCTAssertTrue(h.occurrences("health_marketing.repeat-visitor").isEmpty, "same local day")
        h.send("venue-2", .venueVisit, H.t("10:00:00", day: 22), ["person": "p-8812", "elderly": true])
        XCTAssertTrue(h.occurrences("health_marketing.repeat-visitor").isEmpty, "an unflagged venue does not count")
        h.send("venue-1", .venueVisit, H.t("10:00:00", day: 22), ["person": "p-8812", "elderly": true])
        XCTAssertEqual(h.occurrences("health_marketing.repeat-visitor").map(\.0), ["p-8812"])
        // 7 days later the first two have left the window.
        h.send("venue-1", .venueVisit, H.t("10:00:01", day: 28), ["person": "p-8812", "elderly": true])
        XCTAssertEqual(h.occurrences("health_marketing.repeat-visitor").count, 1)
    }

    func testTimeOfDayUsesTheCommunityTimezone() throws {
        let h = try H()
        // 07:30 in Shanghai is 23:30 UTC the day before: inside the morning window.
        h.send("wcam-1", .wasteDrop, RFC3339.parse("2026-11-23T23:30:00Z")!, ["correct": true])
        XCTAssertTrue(h.occurrences("waste.off-hours-dumping").isEmpty)
        h.send("wcam-1", .wasteDrop, H.t("09:00:00"), ["correct": true])
        XCTAssertEqual(h.occurrences("waste.off-hours-dumping").map(\.0), ["cp-1"], "09:00 is outside [07:00, 09:00)")
        h.send("wcam-1", .wasteDumping, H.t("18:30:00"))
        XCTAssertEqual(h.occurrences("waste.off-hours-dumping").count, 2, "dumping at any time")
    }

    func testSchoolLoiteringOnWeekdaysInSchoolHours() throws {
        let h = try H()
        h.send("school-1", .schoolLoitering, H.t("08:00:00", day: 28), ["seconds": 900])  // Saturday
        h.send("school-1", .schoolLoitering, H.t("18:00:00", day: 24), ["seconds": 900])  // after hours
        h.send("school-1", .schoolLoitering, H.t("08:00:00", day: 24), ["seconds": 599])
        XCTAssertTrue(h.occurrences("sensitive_venue.school-loitering").isEmpty)
        h.send("school-1", .schoolLoitering, H.t("08:00:01", day: 24), ["seconds": 600])
        XCTAssertEqual(h.occurrences("sensitive_venue.school-loitering").count, 1)
    }

    func testNoWaterTurnsTrueAsTheClockMovesOnceThenClearsThenAgain() throws {
        let h = try H()
        h.send("wm-1", .waterUsage, H.t("06:00:00"), ["liters": 6])
        h.send("wm-1", .waterUsage, H.t("12:00:00"), ["liters": 5])
        h.advance(H.t("17:59:59"))
        XCTAssertTrue(h.occurrences("elderly.no-water").isEmpty, "11 L within 12 h, and 12 h since the first only at 18:00")
        h.advance(H.t("23:00:00", day: 24))
        // At 18:00 the 06:00 reading leaves the window: 5 L < 10 L.
        XCTAssertEqual(h.occurrences("elderly.no-water").map(\.1), [H.t("18:00:00")])
        h.advance(H.t("23:59:00"))
        XCTAssertEqual(h.occurrences("elderly.no-water").count, 1, "one occurrence each time it turns true")
        h.send("wm-1", .waterUsage, H.t("23:59:30"), ["liters": 20])
        XCTAssertEqual(h.clears("elderly.no-water").map(\.0), ["home-1"])
        h.advance(H.t("12:00:00", day: 25))
        XCTAssertEqual(h.occurrences("elderly.no-water").map(\.1), [H.t("18:00:00"), H.t("11:59:30", day: 25)])
    }

    func testNoWaterStateStaysSmallForAChattyMeterAndTheTimeIsExact() throws {
        let h = try H()
        // 0.5 L every 2 min from 00:00 to 11:58 (360 readings, 180 L), then 1 L at 11:59 and silence.
        var t = H.t("00:00:00")
        for _ in 0..<360 {
            h.send("wm-1", .waterUsage, t, ["liters": 0.5])
            t = t + 2 * Durations.minute
        }
        h.send("wm-1", .waterUsage, H.t("11:59:00"), ["liters": 1])
        let held = h.engine.stateByRule.first { $0.rule == "elderly.no-water" }!
        XCTAssertLessThanOrEqual(held.entries, 20, "only the newest readings that reach 10 L are kept")
        h.advance(H.t("23:59:59"))
        // The last 10 L: 11:59 (1 L) and the 18 readings 11:24…11:58 (9 L). Below 10 L when 11:24 leaves: 23:24.
        XCTAssertEqual(h.occurrences("elderly.no-water").map(\.1), [H.t("23:24:00")])
    }

    func testHeldDurationFromAnAttributeWithDefault() throws {
        let h = try H()
        h.send("spot-1", .parkingSpot, H.t("08:00:00"), ["occupied": true, "plate": "浙A12345"])
        h.send("spot-2", .parkingSpot, H.t("08:00:00"), ["occupied": true, "plate": "浙A12345"])
        h.advance(H.t("13:00:00"))
        let o = h.occurrences("filial_parking.overstay")
        XCTAssertEqual(o.map(\.0), ["spot-2", "spot-1"])
        XCTAssertEqual(o.map(\.1), [H.t("09:00:00"), H.t("12:00:00")], "max_minutes 60, and the default 240")
    }

    func testUnregisteredAndUnidentifiedPlates() throws {
        let h = try H()
        h.send("spot-1", .parkingSpot, H.t("08:00:00"), ["occupied": true, "plate": "沪B99999"])
        h.send("spot-1", .parkingSpot, H.t("08:14:00"), ["occupied": false, "plate": .null])
        h.send("spot-2", .parkingSpot, H.t("08:00:00"), ["occupied": true])
        h.advance(H.t("09:00:00"))
        XCTAssertTrue(h.occurrences("filial_parking.unregistered").isEmpty)
        XCTAssertEqual(h.occurrences("filial_parking.unidentified").map(\.1), [H.t("08:30:00")])
        XCTAssertEqual(h.clears("filial_parking.unregistered").count, 0, "nothing raised, so nothing to clear")
    }

    func testLateEventIsAppliedWithItsOwnTimeAndCannotUnfireATimer() throws {
        let h = try H()
        h.send("elev-1", .elevatorStatus, H.t("14:00:00"), stuck)
        h.advance(H.t("14:01:00"))
        XCTAssertEqual(h.occurrences("elevator.entrapment").count, 1)
        h.send("elev-1", .elevatorStatus, H.t("14:00:20"), free)  // late
        XCTAssertEqual(h.occurrences("elevator.entrapment").count, 1)
        XCTAssertEqual(h.clears("elevator.entrapment").map(\.1), [H.t("14:00:20")])
        XCTAssertEqual(h.engine.clock, H.t("14:01:00"), "a late event does not move the clock back")
    }

    func testSimultaneousTimersFireInCreationOrder() throws {
        let h = try H()
        h.send("elev-1", .elevatorHeartbeat, H.t("10:00:00"))
        h.send("band-1", .bandFall, H.t("10:09:00"))
        h.advance(H.t("10:30:00"))
        let order = h.signals.compactMap { if case let .occurrence(r, _, _, at) = $0 { return "\(r.id)@\(at)" }; return nil }
        XCTAssertEqual(order, ["elevator.offline@2026-11-24T02:10:00.000Z", "elderly.fall@2026-11-24T02:10:00.000Z"],
                       "the offline timer was created first (at 10:00), the fall timer at 10:09")
    }

    func testSnapshotRestoreCarriesAPendingTimer() throws {
        let a = try H()
        a.send("door-1", .doorContact, H.t("08:00:00"), ["open": true])
        let bytes = try a.engine.snapshot()
        let b = try H()
        try b.engine.restore(bytes)
        XCTAssertEqual(b.engine.clock, H.t("08:00:00"))
        b.advance(H.t("08:00:00", day: 25))
        XCTAssertEqual(b.occurrences("elderly.inactivity").map(\.1), [H.t("08:00:00", day: 25)],
                       "a restart does not reset an elder's inactivity clock")
    }

    /// The snapshot is written by hand, not by JSONEncoder: it must read back (with JSONDecoder) as exactly the
    /// state it was written from, whatever the key text holds.
    func testSnapshotReadsBackAsTheStateItWasWrittenFrom() throws {
        let h = try H()
        for (i, person) in ["p-1", "quote\"and\\slash", "tab\tnew\nline\u{1}", "长者/7", "", "line\u{2028}para\u{2029}"].enumerated() {
            h.send("venue-1", .venueVisit, H.t("10:00:0\(i)"), ["person": .string(person), "elderly": true])
        }
        h.send("wm-1", .waterUsage, H.t("10:01:00"), ["liters": 16.5])
        h.send("wm-1", .waterUsage, H.t("10:02:00"), ["liters": 0.1])
        h.send("door-1", .doorContact, H.t("10:03:00"), ["open": true])
        h.send("elev-1", .elevatorStatus, H.t("10:04:00"), stuck)
        let state = h.engine.savedState()
        XCTAssertGreaterThanOrEqual(state.rules.values.reduce(0) { $0 + $1.count }, 8)
        let back = try JSONDecoder().decode(RuleEngine.Snapshot.self, from: Data(try h.engine.snapshot()))
        XCTAssertEqual(back, state)
        XCTAssertEqual(back.rules["health_marketing.repeat-visitor"]?.keys.sorted(),
                       ["", "line\u{2028}para\u{2029}", "p-1", "quote\"and\\slash", "tab\tnew\nline\u{1}", "长者/7"])
        let text = String(decoding: try h.engine.snapshot(), as: UTF8.self)
        XCTAssertTrue(text.contains(#""line\u2028para\u2029""#), "U+2028/U+2029 are escaped in the snapshot")
    }

    func testStateIsDroppedWhenNothingIsPending() throws {
        let h = try H()
        h.send("elev-1", .elevatorStatus, H.t("14:00:00"), stuck)
        h.send("elev-1", .elevatorStatus, H.t("14:00:10"), free)
        h.send("gate-1", .accessTailgate, H.t("14:00:10"), ["count": 3])
        // elevator.offline tracks the elevator; the interrupted hold leaves nothing.
        XCTAssertEqual(h.engine.trackedKeys, 1)
    }
}
