import Model

/// Decides, message by message, whether a rejected message is kept whole or only counted (`DeadLetterPolicy`'s rate
/// limit). Fixed one-minute windows on the engine's clock; the per-source table is emptied at each new window, so its
/// memory is bounded by one minute's kept sources (at most `overallPerMinute`). Its state is saved with each batch
/// (`snapshot`), so a replay cut short and run again keeps exactly what one uninterrupted replay keeps.
public struct DeadLetterBudget: Sendable {
    public let policy: DeadLetterPolicy
    private var window: Int64 = .min
    private var keptInWindow = 0
    private var keptBySource: [String: Int] = [:]

    public init(policy: DeadLetterPolicy = DeadLetterPolicy()) { self.policy = policy }

    /// True if the message rejected at `at` from `source` (its device id, or its topic when it names no device) is
    /// kept as a dead letter; false if it is only counted.
    public mutating func admit(source: String, at: Instant) -> Bool {
        let minute = at.ms >= 0 ? at.ms / Durations.minute : (at.ms - Durations.minute + 1) / Durations.minute
        if minute != window {
            window = minute
            keptInWindow = 0
            keptBySource.removeAll(keepingCapacity: true)
        }
        // A source is remembered by its first 256 bytes: a flood of long topics cannot grow the table or its snapshot.
        let key = DeadLetterCount.cut(source)
        let bySource = keptBySource[key, default: 0]
        guard keptInWindow < policy.overallPerMinute, bySource < policy.perSourcePerMinute else { return false }
        keptInWindow += 1
        keptBySource[key] = bySource + 1
        return true
    }

    // MARK: saved state

    /// The current window, for the store: `window`, `kept`, then each source as (length, UTF-8 bytes, count).
    public func snapshot() -> [UInt8] {
        var out: [UInt8] = []
        func put(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(window)
        put(Int64(keptInWindow))
        for (source, n) in keptBySource.sorted(by: { $0.key < $1.key }) {
            put(Int64(source.utf8.count))
            out.append(contentsOf: source.utf8)
            put(Int64(n))
        }
        return out
    }

    /// Carries on from a `snapshot`; false (and a fresh window) if the bytes are not one. Losing the window only
    /// lets up to one more minute's worth of dead letters in, so a bad snapshot is not worth stopping for.
    @discardableResult
    public mutating func restore(_ bytes: [UInt8]) -> Bool {
        var at = 0
        func take() -> Int64? {
            guard at + 8 <= bytes.count else { return nil }
            var v: Int64 = 0
            for i in 0..<8 { v |= Int64(bytes[at + i]) << (8 * i) }
            at += 8
            return v
        }
        guard let w = take(), let kept = take(), kept >= 0 else { return false }
        var sources: [String: Int] = [:]
        while at < bytes.count {
            guard let len = take().map(Int.init), len >= 0, len <= bytes.count - at else { return false }
            let source = String(decoding: bytes[at..<(at + len)], as: UTF8.self)
            at += len
            guard let n = take(), n >= 0 else { return false }
            sources[source] = Int(n)
        }
        (window, keptInWindow, keptBySource) = (w, Int(kept), sources)
        return true
    }
}
