import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import AuditChain
@testable import Live

/// The live engine and the audit chain: heads logged after commits and at stop, and a chain broken while the engine
/// was down reported loudly at the next start — which then processes alarms as always. (LiveLoopTests' set-up.)
extension LiveLoopTests {
    func smokeAlarm(_ id: String, _ ts: Instant, community: String, device: String) -> MQTTMessage {
        MQTTMessage(topic: "cityeye/\(community)/\(device)", payload: LiveFixture.envelope(id, ts, device, "smoke.alarm"))
    }

    /// Runs an engine until `alarm` raised an incident; returns what it logged.
    func runOnce(_ alarm: MQTTMessage, incidents: Int) async throws -> [String] {
        let lines = Seen<String>()
        let source = InMemorySource()
        let (engine, task) = try start(source, clock: ManualClock(SystemClock().now()), log: { lines.add($0) })
        XCTAssertTrue(source.deliver([alarm]))
        try waitUntil("the alarm's incident") { try LiveFixture.incidents(store: db).count == incidents }
        engine.stop()
        try await task.value
        return lines.all
    }

    func testABrokenChainAtStartIsLoggedLoudlyAndAlarmsAreStillProcessed() async throws {
        let t0 = SystemClock().now()
        let first = try await runOnce(smokeAlarm("a1", t0, community: "changzhengqiao", device: "czq-smoke-01"), incidents: 1)
        XCTAssertTrue(first.contains("audit intact: 0 rows in 0 chains (rows before the chain began: 0)"), "\(first)")
        let heads = try XCTUnwrap(first.last { $0.hasPrefix("audit heads ") }, "\(first)")
        XCTAssertTrue(heads.hasPrefix("audit heads changzhengqiao="), heads)
        XCTAssertEqual(try AuditHeadsLine.parse(heads, file: "log")["changzhengqiao"]?.row, 2, "raised and dispatched")
        XCTAssertTrue(FileManager.default.fileExists(atPath: db + ".audit-key"), "the key is created next to the store")

        // While the engine is down, someone who can write the store rewrites the raised row.
        let s = try Store(path: db, create: false)
        XCTAssertTrue(try AuditTrail.verify(store: s, key: try AuditKey.load(path: db + ".audit-key", create: false)).intact)
        s.close()
        let sql = Process()
        sql.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sql.arguments = [db, "DROP TRIGGER audit_no_update; UPDATE audit SET note = 'test' WHERE id = 1;"]
        try sql.run()
        sql.waitUntilExit()
        XCTAssertEqual(sql.terminationStatus, 0)

        let second = try await runOnce(smokeAlarm("b1", t0 + 1_000, community: "wenhui", device: "wh-smoke-01"), incidents: 2)
        let loud = try XCTUnwrap(second.first { $0.hasPrefix("AUDIT CHAIN BROKEN: ") }, "\(second)")
        XCTAssertTrue(loud.contains("chain changzhengqiao: audit row 1 does not match its MAC"), loud)
        XCTAssertTrue(second.contains { $0.hasPrefix("audit heads wenhui=4:") }, "the new incident's rows are chained: \(second)")
    }
}
