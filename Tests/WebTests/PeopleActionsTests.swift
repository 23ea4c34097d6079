import XCTest
import TestSupport
import Foundation
import Model
import Incidents
import Store
import Closedloop

/// The one path for people's actions: what it writes, and that refusals are the same whichever way they come.
final class PeopleActionsTests: XCTestCase {
    var f: Fixture!
    override func setUpWithError() throws { f = try Fixture(for: self) }

    func perform(_ a: PeopleAction, _ id: Int64, _ p: ActingPerson) throws(ActionFailure) -> Incident {
        try PeopleActions.perform(a, on: id, by: p, registry: f.registry, store: f.store, at: Fixture.t0 + 60_000)
    }

    func testCommandLineActionRecordsChannelAndOperatingSystemUser() throws {
        let changed = try perform(.acknowledge, 1, .commandLine(worker: "w-li"))
        XCTAssertEqual(changed.status, .acknowledged)
        XCTAssertEqual(try f.store.incident(id: 1)?.status, .acknowledged)
        let last = try XCTUnwrap(f.store.audit(of: 1).last)
        XCTAssertEqual(last.action, .acknowledged)
        XCTAssertEqual(last.actor, "w-li")
        XCTAssertEqual(last.channel, .cli)
        XCTAssertFalse(last.osUser.isEmpty)
        XCTAssertEqual(last.osUser, OperatingSystemUser.current)
    }

    func testWebActionRecordsWebChannelWithoutOperatingSystemUser() throws {
        _ = try perform(.resolve(note: "  rescued; door fixed  "), 1, .web(worker: "w-li"))
        let last = try XCTUnwrap(f.store.audit(of: 1).last)
        XCTAssertEqual(last.action, .resolved)
        XCTAssertEqual(last.channel, .web)
        XCTAssertEqual(last.osUser, "")
        XCTAssertEqual(last.note, "rescued; door fixed")
        XCTAssertEqual(try f.store.audit(of: 1).first?.channel, .engine)
    }

    func testRefusalIsTheSameForCommandLineAndWebAndChangesNothing() throws {
        let before = (try f.store.incident(id: 1), try f.store.allAudit())
        var messages: [String] = []
        for person in [ActingPerson.commandLine(worker: "w-chen"), .web(worker: "w-chen")] {
            do {
                _ = try perform(.acknowledge, 1, person)
                XCTFail("w-chen acknowledged w-li's incident through \(person.channel)")
            } catch {
                guard case .refused(let r) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(r.code, .notAllowed)
                messages.append(error.description)
            }
        }
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages[0], messages[1])
        XCTAssertTrue(messages[0].contains("assigned to w-li"), messages[0])
        XCTAssertEqual(try f.store.incident(id: 1), before.0)
        XCTAssertEqual(try f.store.allAudit(), before.1)
    }

    func testMissingIncidentIsNamed() {
        XCTAssertThrowsError(try perform(.acknowledge, 99, .web(worker: "w-li"))) { error in
            guard case .noIncident(99) = error as? ActionFailure else { return XCTFail("\(error)") }
        }
    }

    func testNotesAreStoredVerbatim() throws {
        let note = "'; DROP TABLE incident; -- <script>alert(1)</script> 电梯"
        _ = try perform(.resolve(note: note), 1, .web(worker: "w-li"))
        XCTAssertEqual(try f.store.audit(of: 1).last?.note, note)
        XCTAssertEqual(try f.store.incidents().count, 2)
    }
}

/// The command line takes the same path: `cityeye ack` then `cityeye show --json` names the channel and OS user.
final class CommandLineChannelTests: XCTestCase {
    func testAckFromTheCommandLineIsAuditedWithChannelAndOperatingSystemUser() throws {
        let f = try Fixture(for: self)
        f.store.close()
        let ack = try CityEyeBinary.run(["ack", "1", "--worker", "w-li", "--db", f.path])
        XCTAssertEqual(ack.code, 0, ack.err)
        let refused = try CityEyeBinary.run(["ack", "2", "--worker", "w-li", "--db", f.path])
        XCTAssertEqual(refused.code, 1)
        let show = try CityEyeBinary.run(["show", "1", "--db", f.path, "--json"])
        let last = try XCTUnwrap(show.out.split(separator: "\n").last)
        let row = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        XCTAssertEqual(row["action"] as? String, "acknowledged")
        XCTAssertEqual(row["channel"] as? String, "cli")
        XCTAssertEqual(row["os_user"] as? String, OperatingSystemUser.current)
        let first = try XCTUnwrap(show.out.split(separator: "\n").dropFirst().first)
        XCTAssertTrue(first.contains("\"channel\":\"engine\""), String(first))
    }
}
