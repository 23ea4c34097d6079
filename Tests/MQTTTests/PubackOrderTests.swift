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

extension PubackOrderTests {
    /// `sever()` while the hook holds a message: that message and every later one go to the session's next holder;
    /// the severed subscriber sees nothing more.
    func testASeveredSubscriberAcknowledgesNothingMoreAndTheNextHolderGetsTheRest() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "sever-\(UUID().uuidString.prefix(6))", cleanSession: false)
        let first = try MQTTSubscriber(settings: settings, batched: true)
        let seenFirst = Deliveries()
        let inHook = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        try first.start { m in
            let p = String(decoding: m.payload, as: UTF8.self)
            _ = seenFirst.add(p)
            if p == "m5" { inHook.signal(); release.wait() }
        }
        let (ok, events) = await waitSubscribed(first, timeout: 10)
        XCTAssertTrue(ok, "\(events)")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        let all = (1...10).map { "m\($0)" }
        for p in all { try pub.publish(topic: "cityeye/c/d", payload: Array(p.utf8), qos: 1) }
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        XCTAssertEqual(inHook.wait(timeout: .now() + 10), .success, "m5 reached the hook")
        let severing = Thread { first.sever() }
        severing.start()
        // sever() has cut the socket before it waits for the network thread; let the hook return into a dead socket.
        while !first.isSevered { try await Task.sleep(nanoseconds: 1_000_000) }
        release.signal()

        let next = try MQTTSubscriber(settings: settings, batched: true)
        let seenNext = Deliveries()
        try next.start { m in _ = seenNext.add(String(decoding: m.payload, as: UTF8.self)) }
        let deadline = Date().addingTimeInterval(15)
        while !Set(all.suffix(6)).isSubset(of: Set(seenNext.all)) && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        next.stop()
        XCTAssertEqual(seenFirst.all, Array(all.prefix(5)), "nothing reached the severed subscriber after m5")
        XCTAssertTrue(Set(all.suffix(6)).isSubset(of: Set(seenNext.all)),
                      "m5 (in the hook when severed) and all later ones went to the next holder: \(seenNext.all)")
    }
}

private final class Deliveries: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    /// Adds one; returns how many there are now.
    func add(_ s: String) -> Int { lock.lock(); defer { lock.unlock() }; items.append(s); return items.count }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
