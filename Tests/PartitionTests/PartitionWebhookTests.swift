import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import PostgresStore
import Live

/// `webhooks:` in a partitioned city: every change a city is told of (a dispatch, a close) is put into the PostgreSQL
/// store's outbox in the transaction that makes it — by a partition's commit or a person's command — and the engine
/// that holds the incident's community sends it, signed, once.
extension FailoverTests {
    func testAPartitionedCitysChangesReachItsWebhookOnceEach() throws {
        let receiver = try LoopbackReceiver()
        defer { receiver.stop() }
        let secretDir = try temporaryPath("cityeye-hook-secret")
        let secret = secretDir + "/hook.secret"
        try "a-secret-of-at-least-16-bytes\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let city = try city("hooks", extraConfig: """
            webhooks: [{community: "*", url: "http://127.0.0.1:\(receiver.port)/city", secret_file: \(secret), backoff_s: 1}]
            """)
        defer { city.stop() }
        let engines = try ["a", "b"].map { try engine(city, $0) }
        defer { stopAll(engines) }
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])

        // One alarm in each community: six incidents, each dispatched (six notices), from six partitions.
        let gateway = try MQTTPublisher(settings: MQTTSettings(port: city.broker.port, clientID: "gateway", cleanSession: true, topics: []))
        try gateway.connect()
        let ts = RFC3339.format(SystemClock().now())
        for c in Self.communities {
            let body = "{\"id\":\"h-\(c)\",\"ts\":\"\(ts)\",\"device\":\"\(c)-sd-1\",\"type\":\"smoke.alarm\",\"data\":{}}"
            try gateway.publish(topic: "cityeye/\(c)/\(c)-sd-1", payload: Array(body.utf8), qos: 1)
        }
        try gateway.waitForAcks(timeout: 30)
        gateway.disconnect()
        func notices() -> [(delivery: String, action: String, community: String)] {
            receiver.requests.compactMap { r in
                guard let o = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else { return nil }
                return (r.headers["x-cityeye-delivery"] ?? "", o["action"] as? String ?? "", o["community"] as? String ?? "")
            }
        }
        try waitUntil("six dispatches told", timeout: 30) { notices().count >= 6 }
        XCTAssertEqual(Set(notices().map(\.community)), Set(Self.communities))
        XCTAssertTrue(notices().allSatisfy { $0.action == "dispatched" }, "\(notices())")
        XCTAssertTrue(receiver.requests.allSatisfy { $0.headers["x-cityeye-signature"]?.isEmpty == false }, "signed")

        // A supervisor's close from the command line is told too; an acknowledgement or a resolve is not.
        let store = try PostgresStore(target: city.target, create: false)
        let incident = try XCTUnwrap(try store.incidents().first { $0.community == "c3" })
        store.close()
        let url = city.target.description, key = city.dir + "/audit-key"
        for action in [["ack", "--worker", "w-c3"], ["resolve", "--worker", "w-c3", "--note", "checked, no fire"], ["close", "--worker", "s-c3"]] {
            let r = try CityEyeBinary.run([action[0], String(incident.id)] + action.dropFirst() + ["--db", url, "--audit-key", key])
            XCTAssertEqual(r.code, 0, r.err)
        }
        try waitUntil("the close told", timeout: 30) { notices().count >= 7 }
        Thread.sleep(forTimeInterval: 1.5)
        let all = notices()
        XCTAssertEqual(all.count, 7, "each change once: \(all)")
        XCTAssertEqual(Set(all.map(\.delivery)).count, 7, "a delivery id each")
        XCTAssertEqual(all.last?.action, "closed")
        let states = try pg.psql("SELECT state, count(*) FROM webhook_outbox GROUP BY state", in: city.target.database)
        XCTAssertTrue(states.contains("delivered|7"), states)
    }
}
