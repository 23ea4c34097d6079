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
/// the key's generation on, and a timer whose generation and due time no longer match its key is dead, dropped
/// when it reaches the top.
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

    /// The earliest live timer's due time.
    mutating func nextDue(in tables: [KeyTable]) -> Int64? {
        while let t = heap.peek, !Self.isLive(t, tables) { heap.pop() }
        return heap.peek?.due
    }

    /// Takes out the earliest live timer due by `t`, dropping dead ones on the way.
    mutating func popLive(upTo t: Int64, in tables: [KeyTable]) -> RuleTimer? {
        while let top = heap.peek, top.due <= t {
            heap.pop()
            if Self.isLive(top, tables) { return top }
        }
        return nil
    }

    private static func isLive(_ t: RuleTimer, _ tables: [KeyTable]) -> Bool {
        let s = tables[Int(t.rule)].slots[Int(t.slot)]
        return s.gen == t.gen && s.due == t.due
    }
}
