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

/// A subscriber whose acknowledgements wait for commits: the broker keeps every message until the consumer said it
/// is committed, and gives the rest to the session's next holder.
final class AcknowledgeAfterCommitTests: XCTestCase {
    /// Takes messages until `n` came (or `timeout`), committing each batch as it is taken when `committing` (reading
    /// pauses until then), else stopping after the first batch.
    func collect(_ sub: MQTTSubscriber, _ n: Int, committing: Bool, timeout: Double = 15) async throws -> [String] {
        var got: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while got.count < n && Date() < deadline {
            let batch = sub.takeMessages()
            got += batch.map { String(decoding: $0.payload, as: UTF8.self) }
            if batch.isEmpty { try await Task.sleep(nanoseconds: 10_000_000); continue }
            guard committing else { break }
            sub.committed(batch.count)
        }
        return got
    }

    func publish(_ payloads: [String], port: Int) throws {
        let pub = try MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gw-\(UUID().uuidString.prefix(4))", cleanSession: true, topics: []))
        try pub.connect()
        for p in payloads { try pub.publish(topic: "cityeye/c/d", payload: Array(p.utf8), qos: 1) }
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
    }

    /// Reading pauses until what was read is committed (libmosquitto writes every queued PUBACK at once), so a holder
    /// with messages pending reads nothing more: the SUBACK of a resumed session can wait behind them, and the next
    /// holders here take messages without waiting for it.
    func testOnlyCommittedMessagesAreAcknowledgedAndTheRestGoesToTheNextHolder() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "gated-\(UUID().uuidString.prefix(6))", cleanSession: false)
        let m = (1...25).map { "m\($0)" }

        // a: m1–m10 committed; then it takes what comes of m11–m20 and commits none of it.
        let a = try MQTTSubscriber(settings: settings, acknowledgesAfterCommit: true)
        try a.start()
        let (ok, events) = await waitSubscribed(a, timeout: 10)
        XCTAssertTrue(ok, "\(events)")
        try publish(Array(m[0..<10]), port: broker.port)
        let a1 = try await collect(a, 10, committing: true)
        XCTAssertEqual(a1, Array(m[0..<10]))
        try publish(Array(m[10..<20]), port: broker.port)
        let a2 = try await collect(a, 10, committing: false)
        XCTAssertFalse(a2.isEmpty)
        XCTAssertEqual(a2, Array(m[10..<(10 + a2.count)]))
        a.stop()

        // b: gets exactly m11–m20, the taken and the never read alike, and commits them; then takes some of m21–m25
        // and commits none.
        let b = try MQTTSubscriber(settings: settings, acknowledgesAfterCommit: true)
        try b.start()
        let b1 = try await collect(b, 10, committing: true)
        try await Task.sleep(nanoseconds: 300_000_000)
        let b1late = b.takeMessages().map { String(decoding: $0.payload, as: UTF8.self) }
        XCTAssertEqual(Set(b1), Set(m[10..<20]), "the ten not committed came back, the ten committed did not")
        XCTAssertEqual(b1.count + b1late.count, 10, "each once: \(b1 + b1late)")
        b.committed(b1late.count)
        try publish(Array(m[20..<25]), port: broker.port)
        let b2 = try await collect(b, 5, committing: false)
        XCTAssertFalse(b2.isEmpty)
        b.stop()

        // c: gets exactly m21–m25.
        let c = try MQTTSubscriber(settings: settings, acknowledgesAfterCommit: true)
        try c.start()
        var c1 = try await collect(c, 5, committing: true)
        try await Task.sleep(nanoseconds: 300_000_000)
        c1 += c.takeMessages().map { String(decoding: $0.payload, as: UTF8.self) }
        c.stop()
        XCTAssertEqual(Set(c1), Set(m[20..<25]))
        XCTAssertEqual(c1.count, 5, "each once: \(c1)")
    }
}
