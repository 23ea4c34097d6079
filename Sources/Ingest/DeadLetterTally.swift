import Model

/// Every rejected message counted per (reason, topic), kept as a dead letter or not, until the store takes the counts
/// (each batch). Topics are cut to `DeadLetterCount.maxTopicBytes`, so a batch's memory is bounded by its messages
/// and no flood of long topics can bloat it.
public struct DeadLetterTally: Sendable {
    private struct Key: Hashable { var reason: RejectReason; var topic: String }
    private var counts: [Key: DeadLetterCount] = [:]

    public init() {}

    public var isEmpty: Bool { counts.isEmpty }

    public mutating func add(reason: RejectReason, topic: String, at: Instant) {
        let cut = DeadLetterCount.cut(topic)
        let key = Key(reason: reason, topic: cut)
        if var c = counts[key] {
            c.count += 1
            c.firstAt = min(c.firstAt, at)
            c.lastAt = max(c.lastAt, at)
            counts[key] = c
        } else {
            counts[key] = DeadLetterCount(reason: reason, topic: cut, count: 1, firstAt: at, lastAt: at)
        }
    }

    /// The counts since the last `removeAll`, in (reason, topic) order.
    public var counted: [DeadLetterCount] {
        counts.values.sorted { ($0.reason.rawValue, $0.topic) < ($1.reason.rawValue, $1.topic) }
    }

    /// Forgets the counts (the store has them).
    public mutating func removeAll() { counts.removeAll(keepingCapacity: true) }
}
