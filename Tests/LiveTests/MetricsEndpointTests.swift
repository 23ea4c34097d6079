import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Live
import Registry

/// `cityeye run` with `metrics.listen`, as an operator runs it: the binary, a real mosquitto, /metrics and /healthz
/// scraped over HTTP, and the counters checked against what the store holds.
final class MetricsEndpointTests: XCTestCase {
    func testRunServesMetricsThatMatchTheStoreAndHealthThatFollowsTheBroker() throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let dir = try engineFolder(broker: broker, metricsListen: "127.0.0.1:0")
        let run = try RunningCommand(["run", "--config", dir + "/cityeye.yaml"])
        defer { run.terminate() }
        let serving = try run.waitForLine(containing: "metrics: serving http://127.0.0.1:")
        let port = try XCTUnwrap(Int(serving.split(separator: ":").last!.prefix { $0.isNumber }), serving)
        _ = try run.waitForLine(containing: "ready: subscribed")
        let ok = try LoopbackHTTP.get(port: port, "/healthz")
        XCTAssertEqual(ok.status, 200, ok.body)
        XCTAssertTrue(ok.body.hasPrefix("{") && ok.body.contains(#""status":"ok""#), ok.body)

        let pub = try MQTTPublisher(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "gw-metrics",
                                                           cleanSession: true, topics: [], qos: 1, keepalive: 5))
        try pub.connect(timeout: 10)
        let now = SystemClock().now()
        let topic = "cityeye/changzhengqiao/czq-smoke-01"
        try pub.publish(topic: topic, payload: LiveFixture.envelope("a1", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: "cityeye/changzhengqiao/czq-elev-01",
                        payload: LiveFixture.envelope("e1", now, "czq-elev-01", "elevator.alarm", #"{"kind":"button"}"#), qos: 1)
        try pub.publish(topic: topic, payload: LiveFixture.envelope("a1", now, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.publish(topic: topic, payload: Array("{broken".utf8), qos: 1)
        try pub.publish(topic: topic, payload: LiveFixture.envelope("x1", now, "no-such-device", "smoke.alarm"), qos: 1)
        try pub.publish(topic: topic, payload: LiveFixture.envelope("x2", now + 10 * Durations.minute, "czq-smoke-01", "smoke.alarm"), qos: 1)
        try pub.waitForAcks(timeout: 10)

        var text = ""
        try waitUntil("6 messages in the metrics") {
            text = try LoopbackHTTP.get(port: port, "/metrics").body
            let handled = ["cityeye_messages_accepted_total", "cityeye_messages_duplicate_total"].compactMap { metric(text, $0) }
                + RejectReason.allCases.compactMap { metric(text, #"cityeye_messages_rejected_total{reason="\#($0.rawValue)"}"#) }
            return handled.reduce(0, +) == 6
        }
        XCTAssertEqual(metric(text, "cityeye_messages_accepted_total"), 2)
        XCTAssertEqual(metric(text, "cityeye_messages_duplicate_total"), 1)
        XCTAssertEqual(metric(text, "cityeye_broker_connected"), 1)
        XCTAssertNotNil(metric(text, "cityeye_batch_commit_duration_seconds_count"), text)
        let store = try Store(path: dir + "/cityeye.db", create: false)
        defer { store.close() }
        // Rejected by reason: exactly the dead letters the store holds (every reason, zeros included).
        let letters = try store.deadLetterCounts()
        XCTAssertEqual(letters.values.reduce(0, +), 3)
        for reason in RejectReason.allCases {
            XCTAssertEqual(metric(text, #"cityeye_messages_rejected_total{reason="\#(reason.rawValue)"}"#), Double(letters[reason] ?? 0), reason.rawValue)
        }
        // Incidents raised by scenario: exactly the incidents the store holds.
        let incidents = try store.incidents()
        XCTAssertEqual(Set(incidents.map(\.scenario)), ["electricity", "elevator"])
        for scenario in Set(incidents.map(\.scenario)) {
            XCTAssertEqual(metric(text, #"cityeye_incidents_raised_total{scenario="\#(scenario)"}"#),
                           Double(incidents.filter { $0.scenario == scenario }.count), scenario)
        }

        broker.stop()
        var answer = LoopbackHTTP.Answer(status: 0, body: "")
        try waitUntil("unhealthy once the broker is gone") {
            answer = try LoopbackHTTP.get(port: port, "/healthz")
            return answer.status == 503
        }
        XCTAssertTrue(answer.body.contains(#""reason":"broker disconnected since "#), answer.body)
        XCTAssertEqual(metric(try LoopbackHTTP.get(port: port, "/metrics").body, "cityeye_broker_connected"), 0)
        XCTAssertEqual(run.stop(), 0)
    }
}

extension MetricsEndpointTests {
    /// An engine whose metrics cannot be served does not run unseen: it stops and says why (exit 1).
    func testATakenMetricsPortStopsTheEngineNamingTheKey() throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let dir = try engineFolder(broker: broker, metricsListen: "127.0.0.1:\(broker.port)")
        let r = try CityEyeBinary.run(["run", "--config", dir + "/cityeye.yaml"])
        XCTAssertEqual(r.code, 1, r.out)
        XCTAssertTrue(r.err.contains("metrics.listen 127.0.0.1:\(broker.port): cannot serve /metrics and /healthz"), r.err)
    }
}

extension MetricsEndpointTests {
    /// A folder with the two-community registry and `cityeye.yaml` for an engine on `broker`, serving metrics on
    /// `metricsListen`.
    func engineFolder(broker: MosquittoBroker, metricsListen: String) throws -> String {
        let dir = try temporaryPath("cityeye-metrics")
        try RegistryFixtures.twoCommunities.write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        try """
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: metrics-test-engine, keepalive_s: 5}
        registry: registry.yaml
        rules: \(Repo.scenarios.path)
        store: cityeye.db
        metrics: {listen: "\(metricsListen)"}
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        return dir
    }
}

extension MetricsEndpointTests {
    /// `cityeye run` on a store whose audit chain was changed while it was down: it says so in its log, `/healthz`
    /// (still 200: alarms are processed) and `/metrics`, naming the community and the row, and alarms flow.
    func testABrokenAuditChainShowsInHealthAndMetricsWhileAlarmsFlow() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let dir = try engineFolder(broker: broker, metricsListen: "127.0.0.1:0")
        let db = dir + "/cityeye.db"
        // An earlier life of the engine raised an incident (audit rows 1-2 in chain changzhengqiao)…
        let source = InMemorySource()
        let earlier = try LiveEngine(config: try LiveConfig.load(path: dir + "/cityeye.yaml"), source: source) { _ in }
        let task = Task { try await earlier.run() }
        XCTAssertTrue(source.deliver([MQTTMessage(topic: "cityeye/changzhengqiao/czq-smoke-01",
                                                  payload: LiveFixture.envelope("a0", SystemClock().now(), "czq-smoke-01", "smoke.alarm"))]))
        try waitUntil("the first incident") { try LiveFixture.incidents(store: db).count == 1 }
        earlier.stop()
        try await task.value
        // …and someone who can write the store rewrote row 2 while it was down.
        let sql = Process()
        sql.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sql.arguments = [db, "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'w-li' WHERE id = 2;"]
        try sql.run()
        sql.waitUntilExit()

        let run = try RunningCommand(["run", "--config", dir + "/cityeye.yaml"])
        defer { run.terminate() }
        let serving = try run.waitForLine(containing: "metrics: serving http://127.0.0.1:")
        let port = try XCTUnwrap(Int(serving.split(separator: ":").last!.prefix { $0.isNumber }), serving)
        _ = try run.waitForLine(containing: "ready: subscribed")
        let loud = try run.waitForLine(containing: "AUDIT CHAIN BROKEN: ")
        XCTAssertTrue(loud.contains("chain changzhengqiao: audit row 2 does not match its MAC"), loud)

        let health = try LoopbackHTTP.get(port: port, "/healthz")
        XCTAssertEqual(health.status, 200, health.body)
        let facts = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
        XCTAssertEqual(facts["status"] as? String, "ok")
        XCTAssertEqual(facts["audit_chain"] as? String, "broken")
        XCTAssertEqual(facts["audit_broken_community"] as? String, "changzhengqiao")
        XCTAssertEqual(facts["audit_broken_row"] as? Int, 2)
        XCTAssertTrue((facts["audit_detail"] as? String)?.hasPrefix("BROKEN in community changzhengqiao at audit row 2: ") == true, health.body)
        let text = try LoopbackHTTP.get(port: port, "/metrics").body
        XCTAssertEqual(metric(text, "cityeye_audit_chain_ok"), 0)
        XCTAssertEqual(metric(text, #"cityeye_audit_broken_row{community="changzhengqiao"}"#), 2)

        let pub = try MQTTPublisher(settings: MQTTSettings(host: "127.0.0.1", port: broker.port, clientID: "gw-audit",
                                                           cleanSession: true, topics: [], qos: 1, keepalive: 5))
        try pub.connect(timeout: 10)
        try pub.publish(topic: "cityeye/wenhui/wh-smoke-01",
                        payload: LiveFixture.envelope("b1", SystemClock().now(), "wh-smoke-01", "smoke.alarm"), qos: 1)
        try pub.waitForAcks(timeout: 10)
        try waitUntil("the alarm raised despite the broken chain") { try LiveFixture.incidents(store: db).count == 2 }
        XCTAssertEqual(run.stop(), 0)
    }
}
