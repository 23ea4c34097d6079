import Foundation

/// Messages received on one thread and taken in batches by another, in arrival order. `put` says when the inbox
/// went from empty to not empty, so the receiver wakes its consumer once per batch instead of once per message.
/// With a `capacity`, `put` blocks while the inbox is full: the receiver (libmosquitto's `on_message`) then reads
/// nothing more, and the broker keeps the rest in its inflight window and queue — memory stays bounded.
public final class MessageInbox: @unchecked Sendable {
    private let cond = NSCondition()
    private var messages: [MQTTMessage] = []
    /// Where the next `take` starts: a bounded take leaves the rest in place instead of shifting the array.
    private var head = 0
    private var closed = false
    public let capacity: Int?

    public init(capacity: Int? = nil) { self.capacity = capacity.map { max(1, $0) } }

    /// Adds a message, waiting while the inbox is full (unless it is closed); true if the inbox was empty before.
    public func put(_ m: MQTTMessage) -> Bool {
        cond.lock(); defer { cond.unlock() }
        if let capacity {
            while !closed && messages.count - head >= capacity { cond.wait() }
        }
        let wasEmpty = head == messages.count
        messages.append(m)
        return wasEmpty
    }

    /// Lets every blocked and later `put` through at once (the receiver is stopping; what it puts is still taken).
    public func close() {
        cond.lock(); closed = true; cond.broadcast(); cond.unlock()
    }

    /// At most `limit` of the messages received (all of them when nil), oldest first.
    public func take(upTo limit: Int? = nil) -> [MQTTMessage] {
        cond.lock(); defer { cond.unlock() }
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
        cond.broadcast()
        return out
    }

    public var count: Int { cond.lock(); defer { cond.unlock() }; return messages.count - head }
}
