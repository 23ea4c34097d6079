import Foundation

/// Messages received on one thread and taken in batches by another, in arrival order. `put` says when the inbox
/// went from empty to not empty, so the receiver wakes its consumer once per batch instead of once per message.
public final class MessageInbox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [MQTTMessage] = []
    /// Where the next `take` starts: a bounded take leaves the rest in place instead of shifting the array.
    private var head = 0

    public init() {}

    /// Adds a message; true if the inbox was empty before.
    public func put(_ m: MQTTMessage) -> Bool {
        lock.lock(); defer { lock.unlock() }
        let wasEmpty = head == messages.count
        messages.append(m)
        return wasEmpty
    }

    /// At most `limit` of the messages received (all of them when nil), oldest first.
    public func take(upTo limit: Int? = nil) -> [MQTTMessage] {
        lock.lock(); defer { lock.unlock() }
        let end = limit.map { min(messages.count, head + max(0, $0)) } ?? messages.count
        guard end > head else { return [] }
        let out = Array(messages[head..<end])
        head = end
        if head == messages.count {
            messages.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4_096 && head * 2 >= messages.count {
            // A backlog that never drains: drop the taken half now and then, not on every take.
            messages.removeFirst(head)
            head = 0
        }
        return out
    }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return messages.count - head }
}
