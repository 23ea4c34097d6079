import Model

extension RuleEngine {
    /// Drops window entries that have left their windows and keys with nothing pending. Run every 10 minutes of
    /// event time: a key whose events stopped would otherwise keep its window until its next event.
    func sweep(_ now: Int64) {
        for ri in tables.indices {
            guard let w = Self.sweptWindow(rules[ri].kind) else { continue }
            for slot in tables[ri].used where !tables[ri].slots[Int(slot)].window.isEmpty {
                let text = tables[ri].keepsNames ? tables[ri].names[Int(slot)] : nil
                let ref = keyRef(ri, slot)
                var s = tables[ri].take(slot)
                s.prune(before: now - w)
                tables[ri].put(slot, s, key: text, ref: ref)
            }
        }
    }

    /// The window the sweep prunes a kind's entries to: the rule's own (a week when it depends on the device),
    /// the `unless` window of a match rule; nil for kinds whose windows are kept by their own events and timers.
    private static func sweptWindow(_ kind: RuleKind) -> Millis? {
        switch kind {
        case .count(let d, _), .sum(let d, _, _), .distinctDays(let d, _): return d.fixed ?? 7 * Durations.day
        case .match(let unless?): return unless.within
        case .match(nil), .held, .absence, .notFollowed, .sumBelow: return nil
        }
    }
}
