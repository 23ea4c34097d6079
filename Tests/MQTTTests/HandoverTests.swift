import XCTest
import Foundation
import TestSupport
@testable import MQTT

/// A partition's broker session handed from holder to holder while gateways publish (docs/scale.md): each holder
/// commits what it takes, then stops (a give-back) or is cut (a lost lease), and the next connects with the same
/// client id after a pause. Every message published is committed by some holder: none is lost in a hand-over.
final class HandoverTests: XCTestCase {
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: [String: Int] = [:]
        func add(_ ids: [String]) { lock.withLock { for i in ids { seen[i, default: 0] += 1 } } }
        var ids: Set<String> { lock.withLock { Set(seen.keys) } }
    }

    func testNothingIsLostWhenTheSessionChangesHandsUnderLoad() async throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let settings = MQTTSettings(port: broker.port, clientID: "handover", cleanSession: false, topics: ["cityeye/#"], keepalive: 5)
        // The session exists before the gateways publish (as a partition's does once first held).
        let first = try MQTTSubscriber(settings: settings, batched: true, inboxCapacity: 4000, acknowledgesAfterCommit: true)
        try first.start()
        let (ok, events) = await waitSubscribed(first, timeout: 10)
        XCTAssertTrue(ok, "\(events)")
        let n = 6_000, rate = 1_000.0
        let port = broker.port
        let published = Expectation()
        Thread.detachNewThread {
            defer { published.fulfil() }
            guard let pub = try? MQTTPublisher(settings: MQTTSettings(port: port, clientID: "gw", cleanSession: true, topics: [])),
                  (try? pub.connect()) != nil else { return }
            let start = Date()
            for i in 0..<n {
                let wait = start.addingTimeInterval(Double(i) / rate).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                _ = try? pub.publish(topic: "cityeye/c/d", payload: Array("m\(i)".utf8), qos: 1)
            }
            try? pub.waitForAcks(timeout: 30)
            pub.disconnect()
        }
        let ledger = Ledger()
        var holder = first
        var round = 0
        while !published.done || round < 3 {
            // Hold for a while, committing every 5 ms.
            let until = Date().addingTimeInterval(Double.random(in: 0.3...0.8))
            while Date() < until {
                let batch = holder.takeMessages(upTo: 2000)
                ledger.add(batch.map { String(decoding: $0.payload, as: UTF8.self) })
                if !batch.isEmpty { holder.committed(batch.count) }
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            if round % 2 == 0 { holder.stop() } else { holder.sever() }
            try await Task.sleep(nanoseconds: UInt64(Double.random(in: 0.1...0.8) * 1e9))
            holder = try MQTTSubscriber(settings: settings, batched: true, inboxCapacity: 4000, acknowledgesAfterCommit: true)
            try holder.start()
            round += 1
        }
        // The last holder drains.
        var quiet = 0
        while quiet < 100 {
            let batch = holder.takeMessages(upTo: 2000)
            ledger.add(batch.map { String(decoding: $0.payload, as: UTF8.self) })
            if batch.isEmpty { quiet += 1 } else { quiet = 0; holder.committed(batch.count) }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        holder.stop()
        let missing = Set((0..<n).map { "m\($0)" }).subtracting(ledger.ids)
        XCTAssertEqual(missing.count, 0, "lost in \(round) hand-overs: \(missing.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }.prefix(20))")
    }
}

final class Expectation: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func fulfil() { lock.withLock { value = true } }
    var done: Bool { lock.withLock { value } }
}
