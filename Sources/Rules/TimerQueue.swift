import Model

/// A pending timer of one (rule, key slot). 24 bytes. `seq` (creation order among timers due at the same time)
/// wraps after 2³² timers; it only orders timers with the same due time, so a wrap could at worst swap two of those.
struct RuleTimer: Comparable {
    var due: Int64
    var seq: UInt32
    var slot: Int32
    var gen: UInt32
    var rule: UInt16
    static func < (a: RuleTimer, b: RuleTimer) -> Bool { a.due != b.due ? a.due < b.due : a.seq < b.seq }
    static func == (a: RuleTimer, b: RuleTimer) -> Bool { a.due == b.due && a.seq == b.seq }
}

/// The engine's timers in (due, creation) order. A key keeps one timer at most: scheduling or cancelling moves
/// the key's generation on, and a timer whose generation and due time no longer match its key is dead (the engine
/// tells, by its key tables), dropped when it reaches the top.
struct TimerQueue {
    private var heap = MinHeap<RuleTimer>()
    private var seq: UInt32 = 0

    /// Timers in the heap, live or not yet dropped.
    var count: Int { heap.count }
    var bytes: Int { heap.capacity * MemoryLayout<RuleTimer>.stride }

    /// Sets the key's timer (replacing any pending one) to `due`.
    mutating func schedule(rule: Int, slot: Int32, _ s: inout KeyState, at due: Int64) {
        s.gen &+= 1
        s.due = due
        seq &+= 1
        heap.push(RuleTimer(due: due, seq: seq, slot: slot, gen: s.gen, rule: UInt16(rule)))
    }

    /// The earliest timer, live or dead.
    var earliest: RuleTimer? { heap.peek }

    mutating func dropEarliest() { heap.pop() }

    /// Takes out the earliest timer if it is due by `t`, live or dead.
    mutating func pop(dueBy t: Int64) -> RuleTimer? {
        guard let top = heap.peek, top.due <= t else { return nil }
        heap.pop()
        return top
    }
}
