import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import PostgresStore
import Live

/// People act on a partitioned city's incidents from the command line (`cityeye ack --db postgres://…`) while the
/// engines run: the partition that owns the incident picks the change up before its next commit (so more alarms
/// for it keep it acknowledged, not dispatched again), a partition taken over after a kill -9 carries it on, and the
/// city's audit chains stay sealed with the people's rows among the engines'.
extension FailoverTests {
    func testAPersonsAckOnThePostgreSQLStoreIsKeptByThePartitionThatOwnsTheIncident() throws {
        let city = try city("people", extraConfig: "metrics: {listen: \"127.0.0.1:0\"}")
        defer { city.stop() }
        let engines = try ["a", "b"].map { try engine(city, $0) }
        defer { stopAll(engines) }
        try waitUntil("every partition taken", timeout: 30) { try held(city) == Self.partitionCount }
        try waitUntilEveryPartitionSubscribed(city, ["a", "b"])
        let url = city.target.description
        let key = city.dir + "/audit-key"

        let gateway = try MQTTPublisher(settings: MQTTSettings(port: city.broker.port, clientID: "gateway", cleanSession: true, topics: []))
        try gateway.connect()
        defer { gateway.disconnect() }
        var sent = 0
        func alarms(_ n: Int) throws {
            let ts = RFC3339.format(SystemClock().now())
            for _ in 0..<n {
                sent += 1
                let body = "{\"id\":\"p-\(sent)\",\"ts\":\"\(ts)\",\"device\":\"c1-sd-1\",\"type\":\"smoke.alarm\",\"data\":{}}"
                try gateway.publish(topic: "cityeye/c1/c1-sd-1", payload: Array(body.utf8), qos: 1)
            }
            try gateway.waitForAcks(timeout: 30)
        }
        func incident() throws -> Incident? {
            let store = try PostgresStore(target: city.target, create: false)
            defer { store.close() }
            return try store.incidents().first { $0.device == "c1-sd-1" }
        }
        func holderOfP0() throws -> String {
            try pg.psql("SELECT holder FROM partition_lease WHERE partition = 'p0'", in: city.target.database)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func waitForCount(_ n: Int64) throws {
            try waitUntil("the incident counts \(n) alarms", timeout: 30) { (try? incident())??.count == n }
        }

        try alarms(3)
        try waitForCount(3)
        let id = try XCTUnwrap(try incident()).id
        let refused = try CityEyeBinary.run(["ack", String(id), "--worker", "w-c2", "--db", url, "--audit-key", key])
        XCTAssertEqual(refused.code, 1, "a worker of another community may not: \(refused.out)")
        XCTAssertTrue(refused.err.contains("only the assignee or a supervisor of c1"), refused.err)
        let ack = try CityEyeBinary.run(["ack", String(id), "--worker", "w-c1", "--db", url, "--audit-key", key])
        XCTAssertEqual(ack.code, 0, ack.err)
        XCTAssertTrue(ack.err.isEmpty, "sealed with the city's key: \(ack.err)")

        // `cityeye status` on the store: both engines on the roster, every partition held by one of them.
        let status = try CityEyeBinary.run(["status", "--db", url, "--audit-key", key, "--json"])
        XCTAssertEqual(status.code, 0, status.err)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any], status.out)
        XCTAssertEqual(o["engines_alive"] as? Int, 2, status.out)
        let ids = Set(try ["a", "b"].map { try engineID(city, $0) })
        let partitions = try XCTUnwrap(o["partitions"] as? [[String: Any]])
        XCTAssertEqual(partitions.count, Self.partitionCount, status.out)
        for p in partitions {
            XCTAssertEqual(p["held"] as? Bool, true, "\(p)")
            XCTAssertTrue(ids.contains(p["holder"] as? String ?? ""), "\(p)")
        }
        XCTAssertEqual((o["audit_chain"] as? [String: Any])?["state"] as? String, "intact", status.out)
        XCTAssertEqual((o["incidents"] as? [String: Any])?.keys.sorted(), ["electricity"], status.out)

        // The owning partition's next commits change the incident: it must have taken the ack in first.
        try alarms(4)
        try waitForCount(7)
        XCTAssertEqual(try incident()?.status, .acknowledged)

        // Each engine's /metrics: the partitions it holds, and the p0 holder's series for p0 (7 alarms, 1 incident);
        // the partition `keyed` hears the same alarms and does not count them again.
        var scraped: [String: String] = [:]
        for name in ["a", "b"] {
            let line = try XCTUnwrap(log(city, name).split(separator: "\n").first { $0.contains("metrics: serving http://127.0.0.1:") })
            let after = line[line.range(of: "127.0.0.1:")!.upperBound...]
            let port = try XCTUnwrap(Int(after.prefix { $0.isNumber }), String(line))
            let health = try LoopbackHTTP.get(port: port, "/healthz")
            XCTAssertEqual(health.status, 200, health.body)
            XCTAssertTrue(health.body.contains("\"partitions_held\":"), health.body)
            scraped[try engineID(city, name)] = try LoopbackHTTP.get(port: port, "/metrics").body
        }
        XCTAssertEqual(scraped.values.compactMap { metric($0, "cityeye_partitions_held") }.reduce(0, +), Double(Self.partitionCount))
        let p0 = try XCTUnwrap(scraped[holderOfP0()], "the p0 holder's metrics")
        XCTAssertEqual(metric(p0, "cityeye_partition_held{partition=\"p0\"}"), 1)
        XCTAssertEqual(metric(p0, "cityeye_messages_accepted_total{partition=\"p0\"}"), 7, p0)
        XCTAssertEqual(metric(p0, "cityeye_incidents_raised_total{partition=\"p0\",scenario=\"electricity\"}"), 1, p0)
        XCTAssertEqual(metric(p0, "cityeye_broker_connected{partition=\"p0\"}"), 1)
        for text in scraped.values where metric(text, "cityeye_partition_held{partition=\"keyed\"}") == 1 {
            XCTAssertEqual(metric(text, "cityeye_messages_accepted_total{partition=\"keyed\"}") ?? 0, 0, "keyed counts no message again")
        }

        // The engine that holds c1's partition dies; the partition's next holder reads the incident as people left it.
        let holder = try holderOfP0()
        let victim = try engineID(city, "a") == holder ? 0 : 1
        kill(engines[victim].processIdentifier, SIGKILL)
        engines[victim].waitUntilExit()
        try waitUntil("p0 taken over", timeout: 30) {
            let now = try pg.psql("SELECT holder FROM partition_lease WHERE partition = 'p0' AND expires_at > now()",
                                  in: city.target.database).trimmingCharacters(in: .whitespacesAndNewlines)
            return !now.isEmpty && now != holder
        }
        try alarms(2)
        try waitForCount(9)
        XCTAssertEqual(try incident()?.status, .acknowledged)
        let resolve = try CityEyeBinary.run(["resolve", String(id), "--worker", "w-c1", "--note", "false alarm, burnt toast",
                                             "--db", url, "--audit-key", key])
        XCTAssertEqual(resolve.code, 0, resolve.err)

        stopAll(engines)
        let actions = try PostgresStore(target: city.target, create: false).audit(of: id).map(\.action.rawValue)
        XCTAssertEqual(actions.filter { $0 == "acknowledged" || $0 == "resolved" }, ["acknowledged", "resolved"], "\(actions)")
        XCTAssertFalse(actions.dropFirst(2).contains("dispatched"), "never dispatched again: \(actions)")
        let verify = try CityEyeBinary.run(["audit", "verify", "--db", url, "--audit-key", key])
        XCTAssertEqual(verify.code, 0, verify.err + verify.out)
        let after = try CityEyeBinary.run(["status", "--db", url, "--audit-key", key])
        XCTAssertTrue(after.out.contains("engines       none alive"), after.out)
        XCTAssertTrue(after.out.contains("partitions    \(Self.partitionCount), 0 held"), after.out)
    }
}
