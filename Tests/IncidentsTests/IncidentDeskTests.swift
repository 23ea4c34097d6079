import XCTest
import Model
@testable import Incidents

final class IncidentDeskTests: XCTestCase {
    let registry = Registry(
        communities: [Community(id: "czq", name: "长征桥"), Community(id: "wh", name: "文晖")],
        grids: [Grid(id: "g1", community: "czq", name: "G1"), Grid(id: "g2", community: "czq", name: "G2"),
                Grid(id: "g9", community: "wh", name: "G9")],
        workers: [Worker(id: "w-b", name: "B", role: .worker, grid: "g1", community: "czq"),
                  Worker(id: "w-a", name: "A", role: .worker, grid: "g1", community: "czq"),
                  Worker(id: "s-z", name: "Z", role: .supervisor, grid: nil, community: "czq"),
                  Worker(id: "s-y", name: "Y", role: .supervisor, grid: nil, community: "czq"),
                  Worker(id: "s-w", name: "W", role: .supervisor, grid: nil, community: "wh")],
        devices: [Device(id: "d1", type: "elevator", community: "czq", grid: "g1", subject: "lift-3"),
                  Device(id: "d2", type: "gate", community: "czq", grid: "g2")])
    let alarm = RuleRef(id: "elevator.alarm", scenario: "elevator", severity: .critical)
    let ebike = RuleRef(id: "elevator.ebike", scenario: "elevator", severity: .major)
    let t0 = Instant(ms: 1_000_000_000_000)
    var changes: [IncidentChange] = []

    func desk() -> IncidentDesk { IncidentDesk(registry: registry, openIncidents: [], nextID: 1) }

    func ref(_ device: String) -> DeviceRef { registry.catalog.ref(of: device)! }

    func occur(_ d: IncidentDesk, _ r: RuleRef, _ key: String = "d1", device: String = "d1", at: Millis = 0) {
        d.advance(to: t0 + at, into: &changes)
        d.apply(.occurrence(rule: r, key: key, device: ref(device), at: t0 + at), into: &changes)
    }

    func testDedupCountsAndMovesLastSeenNeverBackwards() {
        let d = desk()
        occur(d, alarm)
        occur(d, alarm, at: 10_000)
        d.apply(.occurrence(rule: alarm, key: "d1", device: ref("d1"), at: t0 + 5_000), into: &changes)  // late
        let i = changes.last!.incident
        XCTAssertEqual(i.id, 1)
        XCTAssertEqual(i.count, 3)
        XCTAssertEqual(i.firstSeen, t0)
        XCTAssertEqual(i.lastSeen, t0 + 10_000)
        XCTAssertEqual(i.subject, "lift-3")
        XCTAssertEqual(changes.first!.audit.map(\.action), [.raised, .dispatched])
        XCTAssertEqual(changes.last!.audit.map(\.action), [.repeated])
    }

    func testConditionClearedAndActiveAgain() {
        let d = desk()
        occur(d, alarm)
        d.apply(.cleared(rule: alarm, key: "d1", device: ref("d1"), at: t0 + 1), into: &changes)
        XCTAssertEqual(changes.last!.incident.condition, .cleared)
        d.apply(.cleared(rule: alarm, key: "nope", device: ref("d1"), at: t0 + 1), into: &changes)
        XCTAssertEqual(changes.count, 2, "a clear with no incident changes nothing")
        occur(d, alarm, at: 2)
        XCTAssertEqual(changes.last!.incident.condition, .active)
        XCTAssertEqual(changes.last!.audit.map(\.action), [.repeated, .conditionActive])
    }

    func testLeastLoadedAssignmentTiesBySmallestIdAndSupervisorFallback() {
        let d = desk()
        occur(d, alarm, "k1")
        occur(d, alarm, "k2")
        occur(d, alarm, "k3")
        XCTAssertEqual(changes.filter { $0.audit.first?.action == .raised }.map(\.incident.assignee), ["w-a", "w-b", "w-a"])
        XCTAssertEqual(d.load(ofWorker: "w-a"), 2)
        occur(d, alarm, "gate", device: "d2")
        XCTAssertEqual(changes.last!.incident.assignee, "s-y", "grid g2 has no worker: the community's supervisor with the smallest id")
    }

    func testResolvedIncidentsDoNotCountTowardLoad() throws {
        let d = desk()
        occur(d, alarm, "k1")
        let (resolved, _) = try IncidentDesk.apply(.resolve(note: "done"), to: changes.last!.incident, by: "w-a", registry: registry, at: t0 + 1)
        d.refresh(resolved)
        XCTAssertEqual(d.load(ofWorker: "w-a"), 0)
        occur(d, alarm, "k2", at: 2)
        XCTAssertEqual(changes.last!.incident.assignee, "w-a")
    }

    func testAfterCloseTheNextOccurrenceRaisesANewIncident() throws {
        let d = desk()
        occur(d, alarm)
        var i = changes.last!.incident
        i.status = .closed
        d.refresh(i)
        occur(d, alarm, at: 1_000)
        XCTAssertEqual(changes.last!.incident.id, 2)
        XCTAssertEqual(changes.last!.incident.count, 1)
    }

    func testEscalationAtTheAckDeadlineUnlessAcknowledged() throws {
        let d = desk()
        occur(d, alarm, "k1")
        occur(d, alarm, "k2")
        let (acked, _) = try IncidentDesk.apply(.acknowledge, to: changes.last!.incident, by: "w-b", registry: registry, at: t0 + 1)
        d.refresh(acked)
        changes = []
        d.advance(to: t0 + 5 * Durations.minute - 1, into: &changes)
        XCTAssertTrue(changes.isEmpty)
        d.advance(to: t0 + 5 * Durations.minute, into: &changes)
        XCTAssertEqual(changes.map(\.incident.id), [1])
        XCTAssertTrue(changes[0].incident.escalated)
        XCTAssertEqual(changes[0].incident.assignee, "w-a", "it stays assigned")
        XCTAssertEqual(changes[0].audit.first?.action, .escalated)
        XCTAssertEqual(changes[0].audit.first?.at, t0 + 5 * Durations.minute)
        XCTAssertTrue(changes[0].audit.first!.note.contains("s-y"))
        changes = []
        d.advance(to: t0 + 61 * Durations.minute, into: &changes)
        XCTAssertEqual(changes.map(\.incident.id), [1, 2], "both overdue at 60 min, in id order")
        XCTAssertTrue(changes.allSatisfy { $0.incident.overdue && $0.audit.first?.action == .overdue })
        XCTAssertEqual(d.nextDeadline, nil)
    }

    func testPermissionsAndTransitions() throws {
        let d = desk()
        occur(d, ebike)
        let i = changes.last!.incident  // assigned to w-a, community czq
        func refused(_ a: PeopleAction, _ who: String, _ on: Incident, _ code: Refusal.Code, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try IncidentDesk.apply(a, to: on, by: who, registry: registry, at: t0), file: file, line: line) {
                XCTAssertEqual(($0 as? Refusal)?.code, code, "\($0)", file: file, line: line)
                XCTAssertFalse("\($0)".isEmpty)
            }
        }
        refused(.acknowledge, "nobody", i, .unknownWorker)
        refused(.acknowledge, "w-b", i, .notAllowed)
        refused(.acknowledge, "s-w", i, .notAllowed)           // a supervisor of another community
        refused(.close, "s-z", i, .wrongStatus)
        refused(.close, "w-a", i, .notAllowed)
        refused(.resolve(note: "  "), "w-a", i, .noteRequired)
        refused(.reopen(note: "x"), "s-z", i, .wrongStatus)
        let (acked, a1) = try IncidentDesk.apply(.acknowledge, to: i, by: "s-z", registry: registry, at: t0 + 1)
        XCTAssertEqual(acked.status, .acknowledged)
        XCTAssertEqual(a1.actor, "s-z")
        refused(.acknowledge, "w-a", acked, .wrongStatus)
        let (res, a2) = try IncidentDesk.apply(.resolve(note: " moved the e-bike out "), to: acked, by: "w-a", registry: registry, at: t0 + 2)
        XCTAssertEqual(res.status, .resolved)
        XCTAssertEqual(a2.note, "moved the e-bike out")
        refused(.acknowledge, "w-a", res, .wrongStatus)
        refused(.reopen(note: ""), "s-z", res, .noteRequired)
        let (closed, a3) = try IncidentDesk.apply(.close, to: res, by: "s-y", registry: registry, at: t0 + 3)
        XCTAssertEqual(closed.status, .closed)
        XCTAssertEqual(a3.action, .closed)
        let later = t0 + Durations.day
        let (reopened, a4) = try IncidentDesk.apply(.reopen(note: "e-bike is back"), to: closed, by: "s-z", registry: registry, at: later)
        XCTAssertEqual(reopened.status, .dispatched)
        XCTAssertEqual(reopened.assignee, "w-a")
        XCTAssertEqual(reopened.ackDue, later + 30 * Durations.minute)
        XCTAssertEqual(a4.action, .reopened)
        d.refresh(reopened)
        XCTAssertEqual(d.load(ofWorker: "w-a"), 1, "a reopened incident counts toward its assignee's load")
    }
}

extension IncidentDeskTests {
    func testReopenIsRefusedWhileANewerIncidentForTheSameRuleAndKeyIsOpen() throws {
        let d = desk()
        occur(d, ebike)
        var i = changes.last!.incident
        i.status = .closed
        var newer = i
        newer.id = i.id + 1
        newer.status = .acknowledged
        XCTAssertThrowsError(try IncidentDesk.apply(.reopen(note: "again"), to: i, by: "s-z", registry: registry, at: t0,
                                                    newerNotClosed: newer)) {
            XCTAssertEqual(($0 as? Refusal)?.code, .newerOpen)
            XCTAssertTrue("\($0)".contains("incident \(newer.id)") && "\($0)".contains("acknowledged"), "\($0)")
        }
        XCTAssertEqual(try IncidentDesk.apply(.reopen(note: "again"), to: i, by: "s-z", registry: registry, at: t0).0.status, .dispatched)
    }
}
