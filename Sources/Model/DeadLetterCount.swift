/// How many messages were rejected for one reason on one topic, kept or not (the `dead_letter_count` table): what
/// stays when the rate limit keeps a message out of the dead letters, or retention deletes it.
public struct DeadLetterCount: Hashable, Sendable {
    /// Topics are cut to this many bytes here: a flood of 64 KiB topics must not grow the count table by 64 KiB a row.
    public static let maxTopicBytes = 256

    public var reason: RejectReason
    /// At most `maxTopicBytes` of the topic (cut at a character boundary); "" when the message named none.
    public var topic: String
    public var count: Int
    /// The dead-letter times (engine clock) of the first and the last of them.
    public var firstAt: Instant
    public var lastAt: Instant

    public init(reason: RejectReason, topic: String, count: Int, firstAt: Instant, lastAt: Instant) {
        self.reason = reason; self.topic = topic; self.count = count; self.firstAt = firstAt; self.lastAt = lastAt
    }

    /// `topic`'s first `maxTopicBytes` bytes or fewer, ending on a whole character.
    public static func cut(_ topic: String, toBytes max: Int = maxTopicBytes) -> String {
        let utf8 = topic.utf8
        guard utf8.count > max else { return topic }
        var end = utf8.index(utf8.startIndex, offsetBy: max)
        // Back to the start of a character: a UTF-8 continuation byte is 10xxxxxx.
        while end > utf8.startIndex && (utf8[end] & 0xC0) == 0x80 { end = utf8.index(before: end) }
        return String(topic.utf8[..<end]) ?? ""
    }
}
