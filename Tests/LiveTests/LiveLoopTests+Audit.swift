import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Engine
import Telemetry
import AuditChain
@testable import Live

/// The live engine and the audit chain: heads logged after commits and at stop; the chains checked in the background
/// from the start (alarms never wait for it), the result in `/healthz`'s facts, the metrics, the log and the store
/// (for `cityeye status`), and rows added later checked again. (LiveLoopTests' set-up.)
extension LiveLoopTests {
    func smokeAlarm(_ id: String, _ ts: Instant, community: String, device: String) -> MQTTMessage {
        MQTTMessage(topic: "cityeye/\(community)/\(device)", payload: LiveFixture.envelope(id, ts, device, "smoke.alarm"))
    }

    struct AuditRun {
        var lines: [String]
        var check: AuditCheck
        var health: LiveHealth
        var metrics: String
    }

    /// Runs an engine until `alarm` raised an incident and the audit check's first pass ended; returns what it logged,
    /// the check, the health and the metrics then.
    /// `afterFirstPass`: the alarm is delivered once the first pass ended, so the pass sees only earlier rows.
    func runOnce(_ alarm: MQTTMessage, incidents: Int, afterFirstPass: Bool = false) async throws -> AuditRun {
        let lines = Seen<String>()
        let source = InMemorySource()
        let metrics = MetricsRegistry()
        let engine = try LiveEngine(config: try config(), source: source, clock: ManualClock(SystemClock().now()),
                                    metrics: metrics.factory) { lines.add($0) }
        let task = Task { try await engine.run() }
        if afterFirstPass { try waitUntil("the audit check's first pass") { engine.auditCheck.state != .checking } }
        XCTAssertTrue(source.deliver([alarm]))
        try waitUntil("the alarm's incident") { try LiveFixture.incidents(store: db).count == incidents }
        try waitUntil("the audit check's first pass") { engine.auditCheck.state != .checking }
        let run = AuditRun(lines: [], check: engine.auditCheck, health: engine.health(), metrics: metrics.exposition())
        engine.stop()
        try await task.value
        return AuditRun(lines: lines.all, check: run.check, health: run.health, metrics: run.metrics)
    }

    func sqlite(_ sql: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = ["-cmd", ".timeout 10000", db, sql]   // waits for a commit of the running engine
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, sql)
    }

    func recordedCheck() throws -> AuditCheck? {
        let s = try Store(path: db, create: false)
        defer { s.close() }
        return try s.state(AuditWatch.stateName).flatMap(AuditCheck.init(json:))
    }

    func testAGoodChainIsReportedIntactInHealthMetricsAndTheStore() async throws {
        let t0 = SystemClock().now()
        _ = try await runOnce(smokeAlarm("a1", t0, community: "changzhengqiao", device: "czq-smoke-01"), incidents: 1)
        let run = try await runOnce(smokeAlarm("b1", t0 + 1_000, community: "wenhui", device: "wh-smoke-01"), incidents: 2,
                                    afterFirstPass: true)
        XCTAssertTrue(run.lines.contains("audit intact: 2 rows in 1 chains (rows before the chain began: 0)"), "\(run.lines)")
        XCTAssertFalse(run.lines.contains { $0.hasPrefix("AUDIT") }, "\(run.lines)")
        XCTAssertEqual(run.check.state, .intact)
        XCTAssertEqual(run.health.audit?.state, .intact)
        XCTAssertTrue(run.health.healthy)
        XCTAssertEqual(metric(run.metrics, "cityeye_audit_chain_ok"), 1)
        XCTAssertEqual(metric(run.metrics, "cityeye_audit_rows_verified"), 2)
        XCTAssertFalse(run.metrics.contains("cityeye_audit_broken_row"), run.metrics)
        let recorded = try XCTUnwrap(try recordedCheck())
        XCTAssertEqual(recorded.state, .intact)
        XCTAssertEqual(recorded.rows, 2)
        XCTAssertEqual(recorded.checkedUpTo, 2)
        XCTAssertNil(recorded.row)
    }

    func testABrokenChainAtStartIsReportedLoudlyEverywhereAndAlarmsAreStillProcessed() async throws {
        let t0 = SystemClock().now()
        let first = try await runOnce(smokeAlarm("a1", t0, community: "changzhengqiao", device: "czq-smoke-01"), incidents: 1,
                                      afterFirstPass: true)
        XCTAssertTrue(first.lines.contains("audit intact: 0 rows in 0 chains (rows before the chain began: 0)"), "\(first.lines)")
        let heads = try XCTUnwrap(first.lines.last { $0.hasPrefix("audit heads ") }, "\(first.lines)")
        XCTAssertTrue(heads.hasPrefix("audit heads changzhengqiao="), heads)
        XCTAssertEqual(try AuditHeadsLine.parse(heads, file: "log")["changzhengqiao"]?.row, 2, "raised and dispatched")
        XCTAssertTrue(FileManager.default.fileExists(atPath: db + ".audit-key"), "the key is created next to the store")

        // While the engine is down, someone who can write the store rewrites the raised row.
        let s = try Store(path: db, create: false)
        XCTAssertTrue(try AuditTrail.verify(store: s, key: try AuditKey.load(path: db + ".audit-key", create: false)).intact)
        s.close()
        try sqlite("DROP TRIGGER audit_no_update; UPDATE audit SET note = 'test' WHERE id = 1;")

        let second = try await runOnce(smokeAlarm("b1", t0 + 1_000, community: "wenhui", device: "wh-smoke-01"), incidents: 2)
        let loud = try XCTUnwrap(second.lines.first { $0.hasPrefix("AUDIT CHAIN BROKEN: ") }, "\(second.lines)")
        XCTAssertTrue(loud.contains("chain changzhengqiao: audit row 1 does not match its MAC"), loud)
        XCTAssertTrue(second.lines.contains { $0.hasPrefix("audit heads wenhui=4:") }, "the new incident's rows are chained: \(second.lines)")
        // Health: still healthy (connected, committing), and says the chain is broken, where.
        XCTAssertTrue(second.health.healthy, second.health.reason ?? "")
        XCTAssertEqual(second.health.audit?.state, .broken)
        XCTAssertEqual(second.health.audit?.chain, "changzhengqiao")
        XCTAssertEqual(second.health.audit?.row, 1)
        XCTAssertEqual(second.health.audit?.breakKind, .changedOrOutOfOrder)
        XCTAssertTrue(second.check.summary.hasPrefix("BROKEN in community changzhengqiao at audit row 1: "), second.check.summary)
        XCTAssertEqual(metric(second.metrics, "cityeye_audit_chain_ok"), 0)
        XCTAssertEqual(metric(second.metrics, #"cityeye_audit_broken_row{community="changzhengqiao"}"#), 1)
        // The store keeps the engine's result for `cityeye status`.
        let recorded = try XCTUnwrap(try recordedCheck())
        XCTAssertEqual(recorded.state, .broken)
        XCTAssertEqual(recorded.chain, "changzhengqiao")
        XCTAssertEqual(recorded.row, 1)
        XCTAssertNotNil(recorded.checkedAt)
        // …which `cityeye status` shows without the key, and finds itself with it.
        let engine = try CityEyeBinary.run(["status", "--db", db, "--json", "--audit-recorded"])
        XCTAssertEqual(engine.code, 0, engine.err)
        let a = try XCTUnwrap(try Self.auditJSON(engine.out))
        XCTAssertEqual(a["state"] as? String, "broken")
        XCTAssertEqual(a["source"] as? String, "engine")
        XCTAssertEqual(a["chain"] as? String, "changzhengqiao")
        XCTAssertEqual(a["row"] as? Int, 1)
        XCTAssertEqual(a["break_kind"] as? String, "changed")
        let verified = try CityEyeBinary.run(["status", "--db", db, "--json"])
        let v = try XCTUnwrap(try Self.auditJSON(verified.out))
        XCTAssertEqual(v["source"] as? String, "verified", "the key at <store>.audit-key is readable here")
        XCTAssertEqual(v["state"] as? String, "broken")
        XCTAssertEqual(v["row"] as? Int, 1)
        let text = try CityEyeBinary.run(["status", "--db", db, "--audit-key", dir + "/no-such-key"])
        XCTAssertEqual(text.code, 0, text.err)
        XCTAssertTrue(text.out.contains("audit chain   BROKEN in community changzhengqiao at audit row 1: "), text.out)
        XCTAssertTrue(text.out.contains("[the engine's check at "), text.out)
        XCTAssertTrue(text.out.contains("not verified here: audit key \(dir)/no-such-key: no such file"), text.out)
    }

    static func auditJSON(_ out: String) throws -> [String: Any]? {
        let o = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        return o?["audit_chain"] as? [String: Any]
    }

    /// A trail of `rows` sealed rows in the store (an engine's earlier life), sealed with the engine's key file.
    func sealedTrail(rows: Int) throws {
        let s = try Store(path: db, create: true)
        defer { s.close() }
        _ = try AuditTrail.seal(s, keyFile: db + ".audit-key", create: true)
        let chains = ["changzhengqiao", "wenhui"]
        for batch in stride(from: 0, to: rows, by: 10_000) {
            _ = try s.writeTransaction { tx in
                let n = min(10_000, rows - batch)
                try tx.append((0..<n).map { AuditEntry(incident: Int64(1 + ($0 + batch) % 50), at: Instant(ms: 1_000 + Int64($0 + batch)),
                                                      actor: "engine", action: .repeated) },
                              chains: (0..<n).map { chains[($0 + batch) % 2] })
            }
        }
    }

    func testTheFirstBatchIsCommittedWhileTheAuditCheckIsStillReading() async throws {
        let total = 40_000
        try sealedTrail(rows: total)
        var tuning = LiveTuning()
        tuning.auditCheckRows = 1_000
        tuning.auditRecheckEvery = 0
        let lines = Seen<String>()
        let source = InMemorySource()
        let clock = ManualClock(SystemClock().now())
        let engine = try LiveEngine(config: try config(), source: source, clock: clock, tuning: tuning, metrics: MetricsRegistry().factory) {
            lines.add($0)
        }
        // The check is held after its first read until the test has seen the alarm's incident committed: an engine
        // that waited for the check before its first batch would never commit it.
        let held = DispatchSemaphore(value: 0)
        let heldOnce = Seen<Int>()
        engine.onAuditCheck = { check in
            guard check.state == .checking, heldOnce.all.isEmpty else { return }
            heldOnce.add(check.rows)
            held.wait()
        }
        let task = Task { try await engine.run() }
        defer { held.signal() }
        XCTAssertTrue(source.deliver([smokeAlarm("a1", clock.now(), community: "changzhengqiao", device: "czq-smoke-01")]))
        try waitUntil("the alarm's incident") { try LiveFixture.incidents(store: db).count == 1 }
        // Committed while the check is still reading (it is held after its first read, so it cannot have ended).
        let during = engine.auditCheck
        XCTAssertEqual(during.state, .checking)
        XCTAssertLessThanOrEqual(during.rows, 1_000)
        try waitUntil("the check held after its first read") { !heldOnce.all.isEmpty }
        XCTAssertEqual(heldOnce.all, [1_000])
        XCTAssertEqual(engine.auditCheck.rows, 1_000, "rows verified so far")
        XCTAssertEqual(engine.health().audit?.state, .checking)
        XCTAssertTrue(engine.health().healthy)
        XCTAssertEqual(try recordedCheck()?.state, .checking, "the store says a check is running")
        held.signal()
        try waitUntil("the first pass") { engine.auditCheck.state == .intact }
        // The pass covers the trail as it stood when it took its bounds: with the engine's two rows (raised,
        // dispatched) or without them (then they are for the next pass).
        let rows = engine.auditCheck.rows
        XCTAssertTrue(rows == total || rows == total + 2, "\(rows)")
        XCTAssertTrue(lines.all.contains("audit intact: \(rows) rows in 2 chains (rows before the chain began: 0)"), "\(lines.all)")
        engine.stop()
        try await task.value
    }

    func testRowsAddedWhileTheEngineRunsAreCheckedAgainAndATamperingIsCaught() async throws {
        var tuning = LiveTuning()
        tuning.auditRecheckEvery = 0   // passes only when the test asks
        let lines = Seen<String>()
        let source = InMemorySource()
        let clock = ManualClock(SystemClock().now())
        let metrics = MetricsRegistry()
        let engine = try LiveEngine(config: try config(), source: source, clock: clock, tuning: tuning, metrics: metrics.factory) {
            lines.add($0)
        }
        let task = Task { try await engine.run() }
        try waitUntil("the first pass") { engine.auditCheck.state == .intact }
        XCTAssertEqual(engine.auditCheck.rows, 0)
        XCTAssertTrue(source.deliver([smokeAlarm("a1", clock.now(), community: "changzhengqiao", device: "czq-smoke-01")]))
        try waitUntil("the alarm's incident") { try LiveFixture.incidents(store: db).count == 1 }
        engine.auditWatch.recheckNow()
        try waitUntil("the new rows checked") { engine.auditCheck.rows == 2 }
        XCTAssertEqual(engine.auditCheck.state, .intact)
        XCTAssertEqual(engine.auditCheck.checkedUpTo, 2)
        try waitUntil("the pass recorded") { try self.recordedCheck()?.rows == 2 }

        // Someone who can write the store (not read the key) changes the raised row while the engine runs.
        try sqlite("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'w-li' WHERE id = 2;")
        // A row checked before is not read again: a change to it is for the full check at the next start…
        engine.auditWatch.recheckNow()
        clock.advance(by: 1_000)
        XCTAssertTrue(source.deliver([smokeAlarm("b1", clock.now(), community: "wenhui", device: "wh-smoke-01")]))
        try waitUntil("the second incident") { try LiveFixture.incidents(store: db).count == 2 }
        // …but a forged row appended to a chain is caught by the next pass.
        try sqlite("INSERT INTO audit (id, chain, mac, incident, at, actor, action, note) VALUES (100, 'wenhui', zeroblob(32), 2, 30, 's-wu', 'closed', ''); UPDATE audit_head SET row = 100, mac = zeroblob(32) WHERE chain = 'wenhui';")
        engine.auditWatch.recheckNow()
        try waitUntil("the forged row found") { engine.auditCheck.state == .broken }
        XCTAssertEqual(engine.auditCheck.chain, "wenhui")
        XCTAssertEqual(engine.auditCheck.row, 100)
        XCTAssertTrue(lines.all.contains { $0.hasPrefix("AUDIT CHAIN BROKEN: chain wenhui: audit row 100 ") }, "\(lines.all)")
        XCTAssertEqual(metric(metrics.exposition(), "cityeye_audit_chain_ok"), 0)
        // Alarms still flow.
        clock.advance(by: 1_000)
        XCTAssertTrue(source.deliver([message("e1", clock.now(), "czq-elev-01", "elevator.alarm", #"{"kind":"button"}"#)]))
        try waitUntil("an incident after the break") { try LiveFixture.incidents(store: db).count == 3 }
        engine.stop()
        try await task.value
        XCTAssertEqual(try recordedCheck()?.row, 100)
    }

    func testAnUnreadableKeyIsReportedAndAlarmsAreStillProcessed() async throws {
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: db + ".audit-key"))
        let run = try await runOnce(smokeAlarm("a1", SystemClock().now(), community: "changzhengqiao", device: "czq-smoke-01"), incidents: 1)
        let loud = try XCTUnwrap(run.lines.first { $0.hasPrefix("AUDIT KEY UNREADABLE: ") }, "\(run.lines)")
        XCTAssertTrue(loud.contains("audit key \(db).audit-key: holds 5 bytes, a key has 32"), loud)
        XCTAssertEqual(run.check.state, .keyUnreadable)
        XCTAssertTrue(run.health.healthy)
        XCTAssertEqual(run.health.audit?.summary.hasPrefix("NOT VERIFIED: audit key "), true)
        XCTAssertEqual(metric(run.metrics, "cityeye_audit_chain_ok"), 0)
        XCTAssertEqual(try recordedCheck()?.state, .keyUnreadable)
    }
}
