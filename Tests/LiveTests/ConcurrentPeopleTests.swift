import XCTest
import Foundation
import TestSupport
import Model
import MQTT
import Store
import Registry
import Simulation
@testable import Live

/// The CLI and the live engine on one SQLite file at once: a second process acknowledges, resolves and closes
/// incidents in a loop while the engine ingests a steady stream. No "locked" error, no event lost, audit complete.
final class ConcurrentPeopleTests: XCTestCase {
    func cli(_ args: [String]) throws -> (Int32, String) {
        let r = try CityEyeBinary.run(args)
        return (r.code, r.err)
    }

    func testWorkersActWhileTheEngineIngests() async throws {
        let dir = try temporaryPath("cityeye-conc")
        try DeploymentPlan.smokeDetectorsYAML(count: 20).write(toFile: dir + "/registry.yaml", atomically: true, encoding: .utf8)
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let rules = Repo.scenarios.path
        try """
        broker: {host: 127.0.0.1, port: \(broker.port), client_id: conc-engine}
        registry: registry.yaml
        rules: \(rules)
        store: cityeye.db
        """.write(toFile: dir + "/cityeye.yaml", atomically: true, encoding: .utf8)
        let engine = try LiveEngine(config: try LiveConfig.load(path: dir + "/cityeye.yaml")) { _ in }
        let run = Task { try await engine.run() }
        let deadline = Date().addingTimeInterval(15)
        while !engine.stats.connected && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 200_000_000)

        let total = 3_000
        let port = broker.port
        let publisher = Thread {
            guard let pub = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: "conc-gw", cleanSession: true, topics: [])),
                  (try? pub.connect()) != nil else { return }
            for i in 0..<total {
                let device = "sd-\(i % 20 + 1)"
                let ts = RFC3339.format(SystemClock().now())
                let payload = "{\"id\":\"m\(i)\",\"ts\":\"\(ts)\",\"device\":\"\(device)\",\"type\":\"smoke.alarm\",\"data\":{}}"
                _ = try? pub.publish(topic: "cityeye/czq/\(device)", payload: Array(payload.utf8), qos: 1)
                if i % 50 == 0 { Thread.sleep(forTimeInterval: 0.01) }
            }
            try? pub.waitForAcks(timeout: 30)
            pub.disconnect()
        }
        publisher.start()

        var acted = 0
        var failures: [String] = []
        let db = dir + "/cityeye.db"
        var id: Int64 = 1
        while engine.stats.counts.accepted < total || acted < 5 {
            if Date().timeIntervalSince(deadline) > 60 { break }
            let store = try Store(path: db, create: false)
            let incident = try store.incident(id: id)
            store.close()
            guard incident != nil else { try await Task.sleep(nanoseconds: 5_000_000); continue }
            for args in [["ack", "\(id)", "--worker", "w-li"], ["resolve", "\(id)", "--worker", "w-li", "--note", "checked, false alarm"],
                         ["close", "\(id)", "--worker", "s-zhao"]] {
                let (code, err) = try cli(args + ["--db", db])
                if code != 0 || err.contains("locked") { failures.append("\(args): \(code) \(err)") }
            }
            acted += 1
            id += 1
        }
        engine.stop()
        try await run.value
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThanOrEqual(acted, 5)
        XCTAssertEqual(engine.stats.counts.accepted, total, "no event lost")
        let store = try Store(path: db, create: false)
        let all = try store.incidents()
        XCTAssertEqual(all.reduce(0) { $0 + $1.count }, Int64(total), "every alarm counted in exactly one incident")
        let audit = try store.allAudit()
        for i in all where i.id < id {
            XCTAssertEqual(i.status, .closed)
            let actions = audit.filter { $0.incident == i.id }.map(\.action)
            XCTAssertEqual(actions.filter { [.acknowledged, .resolved, .closed].contains($0) }, [.acknowledged, .resolved, .closed], "incident \(i.id)")
        }
        XCTAssertGreaterThan(all.count, acted, "occurrences after a close raised new incidents")
    }
}
