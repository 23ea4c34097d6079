import XCTest
import Foundation
import TestSupport
import Model
import Registry
import Store
import MQTT
import Engine
import Closedloop
import Live
import Webhooks

/// The outbox and its sender against a real HTTP receiver on loopback and a real SQLite file; time from a clock the
/// test moves.
final class WebhookDeliveryTests: WebhookTestCase {
    /// A sender on the store at `db`, its clock read from `clock`.
    func sender(_ targets: [WebhookTarget], clock: ManualClock, log: Seen<String> = Seen<String>()) throws -> WebhookSender {
        try WebhookSender(storePath: db, targets: targets, now: { clock.now() }, log: { log.add($0) })
    }

    func outbox() throws -> [OutboxEntry] {
        let s = try Store(path: db, create: false)
        defer { s.close() }
        return try s.outbox()
    }

    func testADispatchedIncidentIsPostedOnceWithAValidSignature() async throws {
        let receiver = try LoopbackReceiver()
        defer { receiver.stop() }
        let config = try loadConfig(webhooks: """
              - {community: changzhengqiao, url: "http://127.0.0.1:\(receiver.port)/hook", secret_file: webhook.secret}
            """)
        let clock = ManualClock(SystemClock().now())
        let source = InMemorySource()
        var tuning = LiveTuning()
        tuning.webhooks.pollMs = 10
        let lines = Seen<String>()
        let engine = try LiveEngine(config: config, source: source, clock: clock, tuning: tuning, log: { lines.add($0) })
        let task = Task { try await engine.run() }
        try waitUntil("ready") { lines.all.contains { $0.hasPrefix("ready:") } }
        let alarm = MQTTMessage(topic: "cityeye/changzhengqiao/czq-smoke-01",
                                payload: Array("{\"id\":\"a1\",\"ts\":\"\(clock.now())\",\"device\":\"czq-smoke-01\",\"type\":\"smoke.alarm\",\"data\":{}}".utf8))
        XCTAssertTrue(source.deliver([alarm]))
        try waitUntil("the dispatch is delivered") { try outbox().first?.state == .delivered }
        engine.stop()
        try await task.value

        XCTAssertEqual(receiver.requests.count, 1, "raised is not told of; dispatched once")
        let r = try XCTUnwrap(receiver.requests.first)
        XCTAssertEqual(r.method, "POST")
        XCTAssertEqual(r.target, "/hook")
        XCTAssertEqual(r.headers["content-type"], "application/json")
        XCTAssertEqual(r.headers["x-cityeye-signature"], expectedSignature(r.body))
        let body = try json(r.body)
        XCTAssertEqual(r.headers["x-cityeye-delivery"], body["delivery"] as? String)
        XCTAssertEqual(body["incident"] as? Int, 1)
        XCTAssertEqual(body["action"] as? String, "dispatched")
        XCTAssertEqual(body["actor"] as? String, "engine")
        XCTAssertEqual(body["assignee"] as? String, "w-li")
        XCTAssertEqual(body["rule"] as? String, "electricity.smoke")
        XCTAssertEqual(body["scenario"] as? String, "electricity")
        XCTAssertEqual(body["severity"] as? String, "critical")
        XCTAssertEqual(body["community"] as? String, "changzhengqiao")
        XCTAssertEqual(body["grid"] as? String, "czq-g1")
        XCTAssertEqual(body["device"] as? String, "czq-smoke-01")
        let at = try XCTUnwrap(body["at"] as? String)
        XCTAssertTrue(at.hasSuffix("Z"), at)
        XCTAssertEqual(RFC3339.parse(at), clock.now())

        let rows = try outbox()
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0].attempts, 1)
        XCTAssertEqual(IncidentNotice.deliveryID(auditRow: rows[0].id), body["delivery"] as? String)
        XCTAssertTrue(lines.all.contains("webhooks: changzhengqiao -> http://127.0.0.1:\(receiver.port)/hook"))
        XCTAssertFalse(lines.all.joined().contains(secret), "the secret is never logged")
    }

    func testTwoFailuresThenSuccessAreRetriedOnTheBackoffOfTheInjectedClock() async throws {
        let receiver = try LoopbackReceiver(statuses: [500, 500, 200])
        defer { receiver.stop() }
        try storeWithDispatchedIncident().close()
        let clock = ManualClock(t0)
        let w = try sender([target(port: receiver.port, backoff: 5)], clock: clock)

        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 1)
        var row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.state, .pending)
        XCTAssertEqual(row.attempts, 1)
        XCTAssertEqual(row.lastError, "HTTP 500")
        XCTAssertEqual(row.nextAt, t0 + 5_000)

        clock.set(t0 + 4_999)
        let early = try await w.pass()
        XCTAssertEqual(early, 0, "not due before its backoff")
        XCTAssertEqual(receiver.requests.count, 1)

        clock.set(t0 + 5_000)
        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 2)
        row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.attempts, 2)
        XCTAssertEqual(row.nextAt, t0 + 15_000, "the backoff doubles: 5 s, then 10 s")

        clock.set(t0 + 14_999)
        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 2)
        clock.set(t0 + 15_000)
        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 3)
        row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.state, .delivered)
        XCTAssertEqual(row.attempts, 3)

        clock.set(t0 + Durations.hour)
        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 3, "a delivered row is not sent again")
        let bodies = Set(receiver.requests.map(\.body))
        XCTAssertEqual(bodies.count, 1, "every attempt sends the same bytes")
        XCTAssertEqual(Set(receiver.requests.compactMap { $0.headers["x-cityeye-delivery"] }), ["cityeye-audit-2"])
        XCTAssertEqual(Set(receiver.requests.compactMap { $0.headers["x-cityeye-signature"] }), [expectedSignature(receiver.requests[0].body)])
    }

    func testAfterMaxAttemptsTheRowIsMarkedFailedWithTheLastErrorAndLogged() async throws {
        let receiver = try LoopbackReceiver(statuses: [503, 502, 200])
        defer { receiver.stop() }
        try storeWithDispatchedIncident().close()
        let clock = ManualClock(t0)
        let log = Seen<String>()
        let w = try sender([target(port: receiver.port, maxAttempts: 2, backoff: 1)], clock: clock, log: log)
        try await w.pass()
        clock.advance(by: 1_000)
        try await w.pass()
        clock.advance(by: Durations.hour)
        try await w.pass()
        XCTAssertEqual(receiver.requests.count, 2, "no attempt after the last")
        let row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.state, .failed)
        XCTAssertEqual(row.attempts, 2)
        XCTAssertEqual(row.lastError, "HTTP 502")
        XCTAssertTrue(log.all.contains { $0.contains("cityeye-audit-2") && $0.contains("FAILED after 2 attempt(s), last: HTTP 502") },
                      "\(log.all)")
    }

    func testAReceiverThatIsDownIsRetriedAndTheErrorSaysWhy() async throws {
        let receiver = try LoopbackReceiver()
        let port = receiver.port
        receiver.stop()
        try storeWithDispatchedIncident().close()
        let clock = ManualClock(t0)
        let w = try sender([target(port: port)], clock: clock)
        try await w.pass()
        let row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.state, .pending)
        XCTAssertEqual(row.lastError, "cannot connect: Connection refused")
    }

    func testAReceiverThatNeverAnswersIsGivenUpOnAfterTheTimeout() async throws {
        let receiver = try LoopbackReceiver(statuses: [LoopbackReceiver.silent])
        defer { receiver.stop() }
        try storeWithDispatchedIncident().close()
        var t = try target(port: receiver.port)
        t.timeoutSeconds = 1
        let started = Date()
        try await sender([t], clock: ManualClock(t0)).pass()
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        let row = try XCTUnwrap(outbox().first)
        XCTAssertEqual(row.state, .pending)
        XCTAssertEqual(row.lastError, "no answer within 1 s")
        XCTAssertEqual(receiver.requests.count, 1)
    }

    func testASenderStoppedBeforeDeliveryAndAnotherStartedDeliversExactlyOnce() async throws {
        let down = try LoopbackReceiver()
        let downPort = down.port
        down.stop()
        try storeWithDispatchedIncident().close()
        let clock = ManualClock(t0)
        // The first sender tries once (nothing listens), then goes away as a stopped process would.
        var first: WebhookSender? = try sender([target(port: downPort)], clock: clock)
        try await first!.pass()
        first = nil
        XCTAssertEqual(try outbox().first?.attempts, 1)

        let receiver = try LoopbackReceiver()
        defer { receiver.stop() }
        clock.advance(by: Durations.minute)
        let second = try sender([target(port: receiver.port)], clock: clock)
        try await second.pass()
        try await second.pass()
        let third = try sender([target(port: receiver.port)], clock: clock)
        clock.advance(by: Durations.hour)
        try await third.pass()
        XCTAssertEqual(receiver.requests.count, 1)
        XCTAssertEqual(receiver.requests.first?.headers["x-cityeye-delivery"], "cityeye-audit-2")
        XCTAssertEqual(try outbox().map(\.state), [.delivered])
        XCTAssertEqual(try outbox().first?.attempts, 2)
    }

    func testANoteWithANewlineAndScriptIsDeliveredAsExactJSON() async throws {
        let receiver = try LoopbackReceiver()
        defer { receiver.stop() }
        let store = try storeWithDispatchedIncident()
        let registry = try registry()
        let note = "line one\nline two <script>alert('x')</script> \"quoted\" \\ back\u{2028}sep 长征桥 '); DROP TABLE audit;--"
        let person = ActingPerson(worker: "s-zhao", channel: .web)
        _ = try PeopleActions.perform(.resolve(note: "done"), on: 1, by: person, registry: registry, store: store, at: t0 + 1_000)
        _ = try PeopleActions.perform(.reopen(note: note), on: 1, by: person, registry: registry, store: store, at: t0 + 2_000)
        store.close()
        XCTAssertEqual(try outbox().map(\.id), [2, 4], "dispatched and reopened; resolved is not told of")

        let clock = ManualClock(t0 + 2_000)
        try await sender([target(port: receiver.port)], clock: clock).pass()
        XCTAssertEqual(receiver.requests.count, 2)
        let reopened = try XCTUnwrap(receiver.requests.first { $0.headers["x-cityeye-delivery"] == "cityeye-audit-4" })
        XCTAssertEqual(reopened.headers["x-cityeye-signature"], expectedSignature(reopened.body))
        XCTAssertFalse(reopened.body.contains(0x0A), "one line: the newline is escaped")
        let body = try json(reopened.body)
        XCTAssertEqual(body["note"] as? String, note)
        XCTAssertEqual(body["action"] as? String, "reopened")
        XCTAssertEqual(body["actor"] as? String, "s-zhao")
        XCTAssertEqual(body["channel"] as? String, "web")
        XCTAssertEqual(body["status"] as? String, "dispatched")
    }
}

/// What goes into the outbox, and what does not.
final class WebhookOutboxTests: WebhookTestCase {
    func testPeopleActionsEnqueueWithTheirChangeAndARefusalEnqueuesNothing() throws {
        let store = try storeWithDispatchedIncident()
        defer { store.close() }
        let registry = try registry()
        let worker = ActingPerson.commandLine(worker: "w-li")
        let supervisor = ActingPerson.commandLine(worker: "s-zhao")
        _ = try PeopleActions.perform(.acknowledge, on: 1, by: worker, registry: registry, store: store, at: t0 + 1)
        _ = try PeopleActions.perform(.resolve(note: "reset"), on: 1, by: worker, registry: registry, store: store, at: t0 + 2)
        XCTAssertThrowsError(try PeopleActions.perform(.close, on: 1, by: worker, registry: registry, store: store, at: t0 + 3))
        XCTAssertEqual(try store.outbox().map(\.id), [2], "acknowledged, resolved and a refused close are not told of")
        _ = try PeopleActions.perform(.close, on: 1, by: supervisor, registry: registry, store: store, at: t0 + 4)
        let rows = try store.outbox()
        XCTAssertEqual(rows.map(\.id), [2, 5])
        XCTAssertEqual(rows.map(\.state), [.pending, .pending])
        let closed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(rows[1].body.utf8)) as? [String: Any])
        XCTAssertEqual(closed["action"] as? String, "closed")
        XCTAssertEqual(closed["channel"] as? String, "cli")
        XCTAssertEqual(closed["status"] as? String, "closed")
        XCTAssertEqual(rows[1].createdAt, t0 + 4)
    }

    func testOnlyCommunitiesWithAWebhookAreEnqueued() throws {
        let other = try storeWithDispatchedIncident(targets: ["wenhui"])
        XCTAssertEqual(try other.outbox().count, 0)
        try other.setWebhookTargets([])
        _ = try other.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: t0, actor: AuditEntry.engineActor, action: .escalated, note: "to s-zhao")])
        }
        XCTAssertEqual(try other.outbox().count, 0, "no targets: nothing")
        try other.setWebhookTargets(["*"])
        _ = try other.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: t0, actor: AuditEntry.engineActor, action: .overdue, note: "late")])
        }
        XCTAssertEqual(try other.outbox().map(\.id), [4], "`*` stands for every community")
        other.close()
    }

    func testAReplayEnqueuesNothingEvenOnAStoreWithWebhookTargets() throws {
        let scenario = Repo.scenarios.appendingPathComponent("elevator")
        let store = try Store(path: db)
        try store.setWebhookTargets(["*"])
        store.close()
        var setup = EngineSetup(registry: scenario.appendingPathComponent("registry.yaml").path, rules: Repo.scenarios.path, store: db)
        setup.auditKeyFile = dir + "/audit.key"
        let pipeline = try setup.open()
        let until = try String(contentsOf: scenario.appendingPathComponent("elevator-morning.until"), encoding: .utf8)
        _ = try Replay.run(pipeline, files: [scenario.appendingPathComponent("elevator-morning.jsonl").path],
                           until: RFC3339.parse(until.trimmingCharacters(in: .whitespacesAndNewlines)))
        pipeline.store.close()
        let check = try Store(path: db, create: false)
        defer { check.close() }
        let actions = Set(try check.allAudit().map(\.action))
        XCTAssertTrue(actions.contains(.dispatched) && actions.contains(.escalated), "the replay did dispatch and escalate: \(actions)")
        XCTAssertEqual(try check.outbox().count, 0)
    }

    func testRetentionDeletesOldDoneRowsAndExpiresOldPendingOnes() async throws {
        let store = try storeWithDispatchedIncident()
        _ = try store.writeTransaction { tx in
            try tx.append([AuditEntry(incident: 1, at: t0 + 10, actor: AuditEntry.engineActor, action: .escalated, note: "to s-zhao")])
        }
        try store.record(.delivered(attempts: 1, at: t0), for: 2)
        store.close()
        var tuning = WebhookSenderTuning()
        tuning.keepDone = Durations.day
        tuning.maxPendingAge = Durations.day
        let clock = ManualClock(t0 + Durations.day + 11)
        let log = Seen<String>()
        // No target for the community: had the row not expired first, it would be dropped.
        let w = try WebhookSender(storePath: db, targets: [], tuning: tuning, now: { clock.now() }, log: { log.add($0) })
        try await w.pass()
        let s = try Store(path: db, create: false)
        defer { s.close() }
        let rows = try s.outbox()
        XCTAssertEqual(rows.map(\.id), [3], "the delivered row is gone")
        XCTAssertEqual(rows.first?.state, .failed)
        XCTAssertTrue(rows.first?.lastError.hasPrefix("expired") ?? false)
        XCTAssertTrue(log.all.contains { $0.contains("1 notification(s) still undelivered") }, "\(log.all)")
    }

    func testARowForACommunityWithNoWebhookIsDroppedAndSaidOnce() async throws {
        try storeWithDispatchedIncident().close()
        let clock = ManualClock(t0)
        let log = Seen<String>()
        let elsewhere = try target(port: 9, community: "wenhui")
        let w = try WebhookSender(storePath: db, targets: [elsewhere], now: { clock.now() }, log: { log.add($0) })
        try await w.pass()
        let s = try Store(path: db, create: false)
        defer { s.close() }
        XCTAssertEqual(try s.outbox().map(\.state), [.dropped])
        XCTAssertEqual(log.all.filter { $0.contains("no webhook in the config") }.count, 1)
    }
}

/// The examples of docs/operations.md, "Webhooks", run as written: the config block loads, and the Python and openssl
/// signature checks accept a real delivery and refuse a changed body.
final class WebhookDocsTests: WebhookTestCase {
    var section: String {
        get throws {
            let text = try String(contentsOf: Repo.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
            let start = try XCTUnwrap(text.range(of: "## Webhooks\n"))
            let end = try XCTUnwrap(text.range(of: "\n## ", range: start.upperBound..<text.endIndex))
            return String(text[start.upperBound..<end.lowerBound])
        }
    }

    func block(_ language: String) throws -> String {
        let s = try section
        let open = try XCTUnwrap(s.range(of: "```\(language)\n"), "a \(language) block")
        let close = try XCTUnwrap(s.range(of: "```", range: open.upperBound..<s.endIndex))
        return String(s[open.upperBound..<close.lowerBound])
    }

    func run(_ tool: String, _ args: [String], in folder: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testTheConfigBlockLoads() throws {
        let yaml = try block("yaml")
        try writeSecret(dir + "/webhook-czq.secret", secret, mode: 0o600)
        let entries = String(yaml.dropFirst("webhooks:\n".count))
        XCTAssertTrue(yaml.hasPrefix("webhooks:\n"))
        let c = try loadConfig(webhooks: entries)
        XCTAssertEqual(c.webhooks.map(\.community), ["changzhengqiao", "*"])
        XCTAssertEqual(c.webhooks.first?.maxAttempts, 10)
    }

    func testThePythonAndOpensslChecksAcceptARealDeliveryAndRefuseAChangedBody() async throws {
        let receiver = try LoopbackReceiver()
        defer { receiver.stop() }
        try storeWithDispatchedIncident().close()
        try await WebhookSender(storePath: db, targets: [target(port: receiver.port)], now: { [t0] in t0 }, log: { _ in }).pass()
        let request = try XCTUnwrap(receiver.requests.first)
        let header = try XCTUnwrap(request.headers["x-cityeye-signature"])
        try Data(request.body).write(to: URL(fileURLWithPath: dir + "/body.json"))
        try Data(request.body + Array(" ".utf8)).write(to: URL(fileURLWithPath: dir + "/changed.json"))

        let python = try block("python").replacingOccurrences(of: "/etc/receiver/webhook.secret", with: secretPath)
            + "import sys\nprint(genuine(open(sys.argv[1], 'rb').read(), sys.argv[2]))\n"
        try python.write(toFile: dir + "/check.py", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run("/usr/bin/env", ["python3", "check.py", "body.json", header], in: dir), "True")
        XCTAssertEqual(try run("/usr/bin/env", ["python3", "check.py", "changed.json", header], in: dir), "False")

        let example = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(block("json").utf8)) as? [String: Any])
        XCTAssertEqual(Set(example.keys), Set(try json(request.body).keys), "the documented body has the fields sent")
        XCTAssertEqual(try block("json").split(separator: "\n").count, 1, "one line, as sent")

        let s = try section
        let at = try XCTUnwrap(s.range(of: "`printf 'sha256="))
        let end = try XCTUnwrap(s.range(of: "`", range: s.index(after: at.lowerBound)..<s.endIndex))
        let command = String(s[s.index(after: at.lowerBound)..<end.lowerBound])
        let shell = command  // run in the folder that holds webhook.secret and body.json
        XCTAssertEqual(try run("/bin/sh", ["-c", shell], in: dir), header)
        XCTAssertNotEqual(try run("/bin/sh", ["-c", shell.replacingOccurrences(of: "body.json", with: "changed.json")], in: dir), header)
    }
}
