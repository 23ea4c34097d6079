import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Rules
import Store
@testable import Engine

/// The occurrences behind an incident (`incident_event`): written with the incident's change, bounded per incident,
/// the clock's recorded as such, the same rows from every replay of a log.
final class IncidentEventsTests: XCTestCase {
    static let elevator = Repo.scenarios.appendingPathComponent("elevator")
    let topic = "cityeye/changzhengqiao/czq-elev-01"

    func pipeline(_ path: String) throws -> Pipeline {
        try Pipeline(registry: try RegistryLoader.load(path: Self.elevator.appendingPathComponent("registry.yaml").path),
                     rules: try RuleSet.load(directory: Repo.scenarios.path), store: try Store(path: path))
    }

    func send(_ p: Pipeline, _ line: String) {
        XCTAssertEqual(Array(line.utf8).withUnsafeBytes { p.handle($0, topic: topic) }, .accepted, line)
    }

    /// One alarm a minute from 08:00 (elevator.alarm: every one repeats the open incident), with a note that is hostile
    /// on a terminal and in a page.
    func alarm(_ n: Int) -> String {
        let ts = RFC3339.format(Instant(ms: 1_795_478_400_000 + Int64(n) * 60_000))
        return #"{"id":"a\#(n)","ts":"\#(ts)","device":"czq-elev-01","type":"elevator.alarm","data":{"kind":"button","n":\#(n),"x":1.5,"note":"<b>\u001b[2J\n</script>"}}"#
    }

    func testAnIncidentRepeatedAHundredTimesKeepsTheFirstFiveAndTheLatestTwentyInEveryBatchSize() throws {
        for batch in [1, 7, 100] {
            let p = try pipeline(try tempDB())
            for n in 1...100 {
                send(p, alarm(n))
                if n % batch == 0 { try p.process(batch: NoMessages(), now: nil) }
            }
            try p.process(batch: NoMessages(), now: nil)
            let incident = try XCTUnwrap(try p.store.incidents().first { $0.rule == "elevator.alarm" })
            XCTAssertEqual(incident.count, 100)
            let events = try p.store.events(of: incident.id)
            XCTAssertEqual(events.map(\.seq), Array(1...5) + Array(81...100), "batches of \(batch)")
            XCTAssertEqual(events.map(\.eventID), (Array(1...5) + Array(81...100)).map { "a\($0)" })
            XCTAssertEqual(IncidentEvent.dropped(count: incident.count), 75)
            let first = try XCTUnwrap(events.first)
            XCTAssertEqual(first.type, "elevator.alarm")
            XCTAssertEqual(first.device, "czq-elev-01")
            XCTAssertEqual(first.ts, incident.firstSeen)
            XCTAssertEqual(first.data, #"{"kind":"button","n":1,"x":1.5,"note":"<b>\u001b[2J\u000a</script>"}"#, "compact and exact")
            XCTAssertEqual(events.last?.ts, incident.lastSeen)
            XCTAssertEqual(try p.store.allIncidentEvents().count, 25, "nothing kept beyond the bound")
        }
    }

    func testAHeldRuleRaisedOnTheClockRecordsTheClockNotAnEvent() throws {
        let p = try pipeline(try tempDB())
        // Stuck between floors with people inside from 08:01; elevator.entrapment holds for 30 s.
        send(p, #"{"id":"s1","ts":"2026-11-24T08:01:00.000+08:00","device":"czq-elev-01","type":"elevator.status","data":{"floor":5,"moving":false,"door":"closed","between_floors":true,"occupants":2}}"#)
        send(p, #"{"id":"h1","ts":"2026-11-24T08:02:00.000+08:00","device":"czq-elev-01","type":"elevator.heartbeat","data":{}}"#)
        try p.process(batch: NoMessages(), now: nil)
        let held = try XCTUnwrap(try p.store.incidents().first { $0.rule == "elevator.entrapment" })
        let events = try p.store.events(of: held.id)
        XCTAssertEqual(events.count, 1)
        XCTAssertTrue(events[0].byClock)
        XCTAssertEqual(events[0].eventID, "")
        XCTAssertEqual(events[0].ts, RFC3339.parse("2026-11-24T08:01:30+08:00"), "when the hold came due")
        XCTAssertEqual(events[0].device, "czq-elev-01")
        XCTAssertEqual(events[0].data, #"{"timer":"held","since":"2026-11-24T00:01:00.000Z"}"#, "held since the status that began it")
        XCTAssertEqual(events[0].clockTimer?.kind, "held")
        XCTAssertEqual(events[0].clockTimer?.since, RFC3339.parse("2026-11-24T08:01:00+08:00"))
        XCTAssertEqual(events[0].clockPhrase, "held since %@")
    }

    func testTheSameReplayIntoTwoStoresWritesTheSameRows() throws {
        let logs = try FileManager.default.contentsOfDirectory(atPath: Self.elevator.path)
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }.sorted()
            .map { Self.elevator.appendingPathComponent($0).path }
        func replay(batchSize: Int) throws -> [IncidentEvent] {
            let p = try pipeline(try tempDB())
            _ = try Replay.run(p, files: logs, batchSize: batchSize)
            return try p.store.allIncidentEvents()
        }
        let a = try replay(batchSize: Replay.batchSize), b = try replay(batchSize: Replay.batchSize), c = try replay(batchSize: 3)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, c, "batch boundaries do not show")
        XCTAssertTrue(a.contains { $0.byClock } && a.contains { !$0.byClock }, "\(a)")
    }
}
