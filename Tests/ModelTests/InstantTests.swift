import XCTest
@testable import Model

final class InstantTests: XCTestCase {
    func testParsesOffsetAndFormatsUTC() throws {
        let t = try XCTUnwrap(RFC3339.parse("2026-11-24T08:15:30.120+08:00"))
        XCTAssertEqual(t.description, "2026-11-24T00:15:30.120Z")
        XCTAssertEqual(RFC3339.parse("2026-11-24T00:15:30.12Z"), t)
        XCTAssertEqual(RFC3339.parse("2026-11-24T00:15:30.1205Z"), t)
    }

    func testRejectsMalformed() {
        for s in ["", "2026-11-24", "2026-11-24T08:15:30", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                  "2026-11-24T24:00:00Z", "2026-11-24T08:15:30.+08:00", "2026-11-24T08:15:30+0800",
                  "2026-11-24T08:15:30Zjunk"] {
            XCTAssertNil(RFC3339.parse(s), s)
        }
    }

    func testLocalTimeInShanghai() throws {
        let clock = try XCTUnwrap(LocalClock(identifier: "Asia/Shanghai"))
        let t = try XCTUnwrap(RFC3339.parse("2026-11-23T23:30:00Z"))  // Tuesday 07:30 local
        let l = clock.local(t)
        XCTAssertEqual(l.minuteOfDay, 7 * 60 + 30)
        XCTAssertEqual(l.weekday, 2)
        XCTAssertEqual(l.offsetSeconds, 8 * 3600)
    }
}

final class EventTypeTests: XCTestCase {
    func testOrdinalIsThePositionInAllCases() {
        for (i, t) in EventType.allCases.enumerated() { XCTAssertEqual(t.ordinal, i, t.rawValue) }
        XCTAssertEqual(EventType.shipped.count, 29)
        XCTAssertEqual(Array(EventType.allCases.prefix(29)), EventType.shipped, "declared types come after the shipped ones")
        XCTAssertEqual(EventType.named("parking.spot"), .parkingSpot)
        XCTAssertEqual(EventType.parkingSpot.rawValue, "parking.spot")
        XCTAssertNil(EventType.named("parking.spots"))
    }
}

final class DurationTextTests: XCTestCase {
    func testDurationsReadAndWriteAsPeopleWriteThem() {
        XCTAssertEqual(Durations.parse("30s"), 30_000)
        XCTAssertEqual(Durations.parse("10 m"), 600_000)
        XCTAssertEqual(Durations.parse("1.5h"), 5_400_000)
        XCTAssertEqual(Durations.parse("2h5m"), 7_500_000)
        XCTAssertEqual(Durations.parse("250ms"), 250)
        XCTAssertEqual(Durations.parse("5min"), 300_000)
        for bad in ["", "5", "h", "-5s", "5x", "5s5", "1e300d", "36501d", "36500d1ms", "22222222222222222222222m"] {
            XCTAssertNil(Durations.parse(bad), bad)
        }
        XCTAssertEqual(Durations.parse("36500d"), Durations.longest)
        XCTAssertEqual(Durations.describe(30 * Durations.day), "30d")
        XCTAssertEqual(Durations.describe(7_500_250), "2h5m250ms")
        XCTAssertEqual(Durations.parse(Durations.describe(93_784_005)), 93_784_005)
    }
}
