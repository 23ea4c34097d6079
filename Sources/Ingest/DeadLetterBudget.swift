import Model

/// How much of its rejected input the engine keeps (docs/contract.md §2): a payload cap, a retention (age, total size) the
/// store enforces, and a rate limit past which a rejected message is only counted per (reason, topic). Rates are
/// counted on the engine's clock (event time in a replay), so a replay keeps exactly the same dead letters.
public struct DeadLetterPolicy: Equatable, Sendable {
    /// Bytes of a rejected payload kept (at most `DeadLetter.maxPayloadBytes`).
    public var payloadCap: Int = DeadLetter.maxPayloadBytes
    /// Dead letters older than this (on the engine's clock) are deleted; their counts stay.
    public var maxAge: Millis = 30 * Durations.day
    /// The dead-letter table is kept under this many payload bytes, oldest deleted first.
    public var maxTotalBytes: Int = 256 << 20
    /// Kept per device (or per topic, for a message whose device is unknown) per minute.
    public var perSourcePerMinute: Int = 60
    /// Kept in all per minute, whatever the topics: varying the topic does not get round it.
    public var overallPerMinute: Int = 1_000

    public init() {}

    /// The cap actually applied: never more than the contract's 64 KiB.
    public var effectivePayloadCap: Int { max(0, min(payloadCap, DeadLetter.maxPayloadBytes)) }
}

/// Decides, message by message, whether a rejected message is kept whole or only counted. Fixed one-minute
/// windows on the engine's clock; the per-source table is emptied at each new window, so its memory is bounded by
/// one minute's distinct sources (themselves bounded by the overall limit's keeps plus the sources seen).
public struct DeadLetterBudget: Sendable {
    public let policy: DeadLetterPolicy
    private var window: Int64 = .min
    private var keptInWindow = 0
    private var keptBySource: [String: Int] = [:]
    /// Rejected messages counted but not kept, per (reason, topic), since the store last took them.
    public private(set) var counted: [CountKey: Int] = [:]

    public struct CountKey: Hashable, Sendable {
        public var reason: RejectReason
        public var topic: String
    }

    public init(policy: DeadLetterPolicy = DeadLetterPolicy()) { self.policy = policy }

    /// True if the message rejected at `at` from `source` (its device id, or its topic when the device is unknown)
    /// is kept as a dead letter; false if it is only counted (under `reason`, `topic`).
    public mutating func admit(source: String, reason: RejectReason, topic: String, at: Instant) -> Bool {
        let minute = at.ms >= 0 ? at.ms / Durations.minute : (at.ms - Durations.minute + 1) / Durations.minute
        if minute != window {
            window = minute
            keptInWindow = 0
            keptBySource.removeAll(keepingCapacity: true)
        }
        let bySource = keptBySource[source, default: 0]
        guard keptInWindow < policy.overallPerMinute, bySource < policy.perSourcePerMinute else {
            counted[CountKey(reason: reason, topic: topic), default: 0] += 1
            return false
        }
        keptInWindow += 1
        keptBySource[source] = bySource + 1
        return true
    }

    /// The counts since the last call, for the store.
    public mutating func takeCounts() -> [CountKey: Int] {
        defer { counted.removeAll(keepingCapacity: true) }
        return counted
    }
}
