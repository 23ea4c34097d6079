import Model

extension RuleEngine {
    /// match: every raising event is an occurrence, unless an `unless` event came within its window before it
    /// (the key's window holds the times of those).
    func match(unless: Unless?, _ e: EventStep, _ s: inout KeyState, _ c: EvalContext, into out: inout [RuleSignal]) {
        let ts = c.event.ts.ms
        var raise = e.raise
        if let unless {
            if unless.trigger.test(c) == true { s.insert(ts, 0) }
            if raise == true && s.window.contains(where: { $0.t > ts - unless.within && $0.t <= ts }) { raise = false }
        }
        if raise == true { e.occur(c, &s, into: &out) }
        if e.rule.clearHolds(c, raise: e.raise) { e.clear(c, &s, into: &out) }
        if let unless { s.prune(before: (clock?.ms ?? ts) - unless.within) }
    }
}
