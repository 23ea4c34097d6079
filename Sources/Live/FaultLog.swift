import Foundation

/// Says once when a fault starts and once when it clears, not on every retry in between. Faults are keyed by
/// where they happen ("store", "journal"). Thread-safe: the MQTT thread reports journal faults.
final class FaultLog: @unchecked Sendable {
    private let lock = NSLock()
    private var active: [String: String] = [:]
    private let log: @Sendable (String) -> Void

    init(log: @escaping @Sendable (String) -> Void) { self.log = log }

    /// Logs `message` if no fault is active at `place` yet.
    func report(_ place: String, _ message: String) {
        let first = lock.withLock { () -> Bool in
            guard active[place] == nil else { return false }
            active[place] = message
            return true
        }
        if first { log(message) }
    }

    /// Logs `message` if a fault was active at `place`.
    func cleared(_ place: String, _ message: @autoclosure () -> String) {
        let was = lock.withLock { active.removeValue(forKey: place) != nil }
        if was { log(message()) }
    }

    var isActive: Bool { lock.withLock { !active.isEmpty } }
}

/// Waits that grow from `first` to `limit` seconds, doubling each time.
struct Backoff {
    var first = 0.05
    var limit = 5.0
    private var next: Double?

    init(first: Double = 0.05, limit: Double = 5.0) { self.first = first; self.limit = limit }

    /// The next wait in seconds.
    mutating func delay() -> Double {
        let d = next ?? first
        next = min(d * 2, limit)
        return d
    }
}
