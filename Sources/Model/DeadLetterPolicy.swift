/// How much of its rejected input the engine keeps (docs/contract.md §3): a payload cap, a retention (age, total size)
/// the store enforces, and a rate limit past which a rejected message is only counted per (reason, topic). Rates are
/// counted on the engine's clock (event time in a replay), so a replay keeps exactly the same dead letters.
/// Configured in `cityeye run`'s `dead_letters:` section (docs/operations.md).
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
