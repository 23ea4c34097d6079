import XCTest
import Foundation
@testable import MQTT

/// Against a real mosquitto started on a free loopback port.
final class MQTTTests: XCTestCase {
    func collect(_ sub: MQTTSubscriber, count: Int, timeout: Double) async -> [MQTTMessage] {
        await withTaskGroup(of: [MQTTMessage].self) { group in
            group.addTask {
                var got: [MQTTMessage] = []
                for await e in sub.events { if case .message(let m) = e { got.append(m); if got.count == count { break } } }
                return got
            }
            group.addTask { try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9)); return [] }
            var best: [MQTTMessage] = []
            for await r in group { if r.count > best.count { best = r }; if !r.isEmpty || best.count == count { group.cancelAll(); break } }
            group.cancelAll()
            sub.stop()
            return best
        }
    }

    func testPersistentSessionReceivesWhatWasPublishedWhileAway() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "engine-\(UUID().uuidString.prefix(6))", cleanSession: false, topics: ["cityeye/#"])
        var sub = try MQTTSubscriber(settings: settings)
        try sub.start()
        for await e in sub.events { if case .subscribed = e { break } }
        sub.stop()
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        for i in 0..<2_000 { try pub.publish(topic: "cityeye/c/d", payload: Array("m\(i)".utf8), qos: 1) }
        try pub.waitForAcks(timeout: 20)
        pub.disconnect()
        sub = try MQTTSubscriber(settings: settings)
        try sub.start()
        let got = await collect(sub, count: 2_000, timeout: 30)
        XCTAssertEqual(got.count, 2_000, "more than mosquitto's default 1000 queued: needs max_queued_messages 0")
        XCTAssertEqual(got.first.map { String(decoding: $0.payload, as: UTF8.self) }, "m0")
        XCTAssertEqual(got.last.map { String(decoding: $0.payload, as: UTF8.self) }, "m1999")
    }

    /// A persistent session keeps the subscriptions of an earlier configuration: narrowed to one device, a session
    /// unsubscribes the community's filter on connect, and hears only that device from then on.
    func testASessionNarrowedToADeviceNoLongerHearsItsEarlierFilter() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        var settings = MQTTSettings(port: broker.port, clientID: "keyed-\(UUID().uuidString.prefix(6))", cleanSession: false,
                                    topics: ["cityeye/c/#"])
        var sub = try MQTTSubscriber(settings: settings)
        try sub.start()
        let first = await waitSubscribed(sub, timeout: 10)
        XCTAssertTrue(first.subscribed, "\(first.events)")
        sub.stop()
        settings.topics = ["cityeye/c/venue-1"]
        settings.unsubscribes = ["cityeye/c/#"]
        sub = try MQTTSubscriber(settings: settings)
        try sub.start()
        let narrowed = await waitSubscribed(sub, timeout: 10)
        XCTAssertTrue(narrowed.subscribed, "\(narrowed.events)")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        for (i, device) in ["sd-1", "venue-1", "sd-2", "venue-1"].enumerated() {
            try pub.publish(topic: "cityeye/c/\(device)", payload: Array("\(device) \(i)".utf8), qos: 1)
        }
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        let got = await collect(sub, count: 2, timeout: 10)
        XCTAssertEqual(got.map { String(decoding: $0.payload, as: UTF8.self) }, ["venue-1 1", "venue-1 3"],
                       "the community's filter, kept by the session, was unsubscribed (messages come in order: sd-1's would be first)")
    }

    func testPublisherToAClosedPortFailsClearly() throws {
        let port = try MosquittoBroker.freePort()
        let pub = try MQTTPublisher(settings: MQTTSettings(port: port, clientID: "x", cleanSession: true, topics: []))
        XCTAssertThrowsError(try pub.connect(timeout: 3)) { XCTAssertTrue("\($0)".contains("127.0.0.1:\(port)"), "\($0)") }
    }

    func testMissingTLSFileIsNamed() {
        XCTAssertThrowsError(try MQTTSubscriber(settings: MQTTSettings(tls: TLSFiles(caFile: "/nonexistent/ca.crt")))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/ca.crt"))
        }
    }

    func testEngineStartedBeforeTheBrokerConnectsWhenItComesUp() async throws {
        let port = try MosquittoBroker.freePort()
        let sub = try MQTTSubscriber(settings: MQTTSettings(port: port, clientID: "early", cleanSession: false), batched: true)
        try sub.start()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let broker = try MosquittoBroker(port: port)
        defer { broker.stop() }
        let (ok, seen) = await waitSubscribed(sub, timeout: 20)
        XCTAssertTrue(ok, "never subscribed after the broker came up; events: \(seen)")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        try pub.publish(topic: "cityeye/c/d", payload: Array("hi".utf8), qos: 1)
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        let got = try await firstPayloads(sub, timeout: 4)
        sub.stop()
        XCTAssertEqual(got, ["hi"])
    }
}

extension MQTTTests {
    /// The receive hook sees each message on the network thread before a batched consumer can take it.
    func testTheReceiveHookSeesEachMessageBeforeItIsBuffered() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let sub = try MQTTSubscriber(settings: MQTTSettings(port: broker.port, clientID: "hook", cleanSession: true), batched: true)
        let seen = HookLog()
        try sub.start { m in seen.add(String(decoding: m.payload, as: UTF8.self), buffered: sub.waiting) }
        let (ok, events) = await waitSubscribed(sub, timeout: 10)
        XCTAssertTrue(ok, "\(events)")
        let pub = try MQTTPublisher(settings: MQTTSettings(port: broker.port, clientID: "gw", cleanSession: true, topics: []))
        try pub.connect()
        for i in 0..<3 { try pub.publish(topic: "cityeye/c/d", payload: Array("m\(i)".utf8), qos: 1) }
        try pub.waitForAcks(timeout: 10)
        pub.disconnect()
        let deadline = Date().addingTimeInterval(10)
        while sub.waiting < 3 && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        sub.stop()
        XCTAssertEqual(seen.payloads, ["m0", "m1", "m2"])
        XCTAssertEqual(seen.bufferedBefore, [0, 1, 2], "the hook runs before its message is buffered")
        XCTAssertEqual(sub.takeMessages().map { String(decoding: $0.payload, as: UTF8.self) }, ["m0", "m1", "m2"])
    }
}

private final class HookLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(payload: String, buffered: Int)] = []
    func add(_ p: String, buffered: Int) { lock.lock(); entries.append((p, buffered)); lock.unlock() }
    var payloads: [String] { lock.lock(); defer { lock.unlock() }; return entries.map(\.payload) }
    var bufferedBefore: [Int] { lock.lock(); defer { lock.unlock() }; return entries.map(\.buffered) }
}
