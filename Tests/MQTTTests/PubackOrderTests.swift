import XCTest
import Foundation
@testable import MQTT

/// The PUBACK of a message leaves only after the receive hook returned: a connection that dies inside the hook
/// leaves the message unacknowledged, and the broker delivers it again to the same persistent session.
final class PubackOrderTests: XCTestCase {
    func testAMessageWhoseConnectionDiesInsideTheHookIsDeliveredAgain() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "puback-\(UUID().uuidString.prefix(6))", cleanSession: false)
        let sub = try MQTTSubscriber(settings: settings, batched: true)
        let seen = Deliveries()
        try sub.start { m in
            // The first delivery: the connection dies before the network loop's write phase.
            if seen.add(String(decoding: m.payload, as: UTF8.self)) == 1 { sub.breakConnection() }
        }
        let (ok, events) = await waitSubscribed(sub, timeout: 10)
        XCTAssertTrue(ok, "\(events)")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        try pub.publish(topic: "cityeye/c/d", payload: Array("alarm".utf8), qos: 1)
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        let deadline = Date().addingTimeInterval(15)
        while seen.all.count < 2 && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        sub.stop()
        XCTAssertEqual(seen.all, ["alarm", "alarm"],
                       "the broker got no PUBACK for the first delivery, so it delivers again after the reconnect")
    }
}

private final class Deliveries: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    /// Adds one; returns how many there are now.
    func add(_ s: String) -> Int { lock.lock(); defer { lock.unlock() }; items.append(s); return items.count }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
