import XCTest
import Foundation
@testable import MQTT

/// A subscriber given the other nodes of a clustered broker (`MQTTSettings.fallbacks`) connects to the first that
/// answers, and says which nodes failed when none does. Against real mosquittos; the "dead" node is a free port.
final class FallbackNodeTests: XCTestCase {
    func testADeadFirstNodeIsPassedOverForTheNextOne() async throws {
        let dead = try MosquittoBroker.freePort()
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: dead, clientID: "fallback-\(UUID().uuidString.prefix(6))", cleanSession: false,
                                    topics: ["cityeye/#"], fallbacks: [("127.0.0.1", broker.port)])
        let sub = try MQTTSubscriber(settings: settings, batched: true)
        defer { sub.stop() }
        try sub.start()
        let (subscribed, events) = await waitSubscribed(sub, timeout: 10)
        XCTAssertTrue(subscribed, "connected through the second node: \(events)")
        XCTAssertFalse(events.contains { $0.contains("disconnected") }, "a node passed over is not a disconnection: \(events)")
        XCTAssertEqual(sub.connectedNode, "127.0.0.1:\(broker.port)", "the node actually used, for the engine's log")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw-fb", cleanSession: true, topics: []))
        try pub.connect()
        try pub.publish(topic: "cityeye/c/d", payload: Array("on-the-fallback".utf8), qos: 1)
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        let got = try await firstPayloads(sub, timeout: 10)
        XCTAssertEqual(got, ["on-the-fallback"])
    }

    func testWhenEveryNodeIsDownEachIsNamedAndTheFirstIsTriedAgain() async throws {
        let a = try MosquittoBroker.freePort(), b = try MosquittoBroker.freePort()
        let settings = MQTTSettings(port: a, clientID: "fallback-down", cleanSession: false, fallbacks: [("127.0.0.1", b)])
        let sub = try MQTTSubscriber(settings: settings, batched: true)
        try sub.start()
        var reason = ""
        for await e in sub.events { if case .disconnected(let r) = e { reason = r; break } }
        sub.stop()
        XCTAssertTrue(reason.contains("127.0.0.1:\(a): "), reason)
        XCTAssertTrue(reason.contains("127.0.0.1:\(b): "), reason)
        XCTAssertTrue(reason.contains("retrying"), reason)
    }

    func testAFallbackThatRepeatsTheFirstNodeIsTriedOnce() {
        let s = MQTTSettings(host: "mq-1", port: 1883, fallbacks: [("mq-1", 1883), ("mq-2", 1883), ("mq-1", 1884)])
        XCTAssertEqual(s.nodes.map { "\($0.host):\($0.port)" }, ["mq-1:1883", "mq-2:1883", "mq-1:1884"])
    }

    /// The publisher's ledger hooks: each publish has an id, and the broker's acknowledgement comes back with it.
    func testThePublisherReportsEachAcknowledgedMessageID() throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let acked = AckedIDs()
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw-ids", cleanSession: true, topics: []),
                                    acknowledged: { acked.add($0) })
        XCTAssertFalse(pub.isConnected)
        try pub.connect()
        XCTAssertTrue(pub.isConnected)
        var ids: [Int32] = []
        for i in 0..<50 { ids.append(try pub.publish(topic: "cityeye/c/d", payload: Array("m\(i)".utf8), qos: 1)) }
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        XCTAssertEqual(Set(ids).count, 50)
        XCTAssertEqual(acked.all.sorted(), ids.sorted())
    }
}

private final class AckedIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [Int32] = []
    func add(_ id: Int32) { lock.withLock { ids.append(id) } }
    var all: [Int32] { lock.withLock { ids } }
}
