import Foundation
@testable import MQTT

/// The events a subscriber reported, kept across the task that reads them.
private final class SeenEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ e: String) { lock.lock(); items.append(e); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Waits until `sub` reports `.subscribed` or `timeout` passes; returns whether it did and every event seen on the way
/// (on a timeout too, so a test can say why: a refused login, a TLS error).
func waitSubscribed(_ sub: MQTTSubscriber, timeout: Double) async -> (subscribed: Bool, events: [String]) {
    let seen = SeenEvents()
    let watch = Task { () -> Bool in
        for await e in sub.events {
            seen.add("\(e)")
            if case .subscribed = e { return true }
        }
        return false
    }
    let timer = Task { if (try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9))) != nil { watch.cancel() } }
    let subscribed = await watch.value
    timer.cancel()
    return (subscribed, seen.all)
}

/// The payloads of the first messages a batched subscriber takes within `timeout`, as text (empty if none came).
func firstPayloads(_ sub: MQTTSubscriber, timeout: Double) async throws -> [String] {
    let deadline = Date().addingTimeInterval(timeout)
    var got: [MQTTMessage] = []
    while got.isEmpty && Date() < deadline {
        got = sub.takeMessages()
        if got.isEmpty { try await Task.sleep(nanoseconds: 20_000_000) }
    }
    return got.map { String(decoding: $0.payload, as: UTF8.self) }
}
