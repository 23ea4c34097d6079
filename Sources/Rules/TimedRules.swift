import Model

/// The kinds that wait for a timer: held, absence and not_followed.
extension RuleEngine {
    /// held: a raising event starts the timer (if none is pending and it has not fired), a non-raising one
    /// stops it; the occurrence is at the timer's due time.
    func held(for d: DurationSpec, _ e: inout EventStep, _ c: EvalContext, into out: inout [RuleSignal]) {
        if e.raise == true {
            if e.s.due == nil && !e.s.fired, let d = devices.resolve(d, for: c.deviceRef) {
                timers.schedule(rule: e.ruleIndex, slot: e.slot, &e.s, at: c.event.ts.ms + d)
            }
        } else if e.raise == false {
            e.s.cancelTimer()
            e.s.fired = false
        }
        if e.rule.clearHolds(c, raise: e.raise) { e.clear(c, into: &out) }
    }

    func heldDue(_ t: inout TimerStep, into out: inout [RuleSignal]) {
        t.s.fired = true
        t.s.open = t.rule.clears
        t.occur(devices, into: &out)
    }

    /// absence: every raising event moves the deadline to its time + D; the first one starts the timer, and the
    /// next one after an occurrence clears it.
    func absence(for d: DurationSpec, _ e: inout EventStep, _ c: EvalContext, into out: inout [RuleSignal]) {
        guard e.raise == true else { return }
        let ts = c.event.ts.ms
        if e.s.fired { e.s.fired = false; e.clear(c, into: &out) }
        let last = max(e.s.mark ?? ts, ts)
        e.s.mark = last
        // One pending timer per key: when it comes due it moves itself on to the latest event + D.
        if e.s.due == nil, let d = devices.resolve(d, for: c.deviceRef) {
            timers.schedule(rule: e.ruleIndex, slot: e.slot, &e.s, at: last + d)
        }
    }

    func absenceDue(for d: DurationSpec, _ t: inout TimerStep, into out: inout [RuleSignal]) {
        if let last = t.s.mark, let d = devices.resolve(d, for: t.s.device), last + d > t.due {
            timers.schedule(rule: t.ruleIndex, slot: t.slot, &t.s, at: last + d)
        } else {
            t.s.fired = true
            t.s.open = true
            t.occur(devices, into: &out)
        }
    }

    /// not_followed: a raising event (re)starts the timer, a follow-up event stops it (and clears the
    /// occurrence with `clear: followed_by`).
    func notFollowed(within d: DurationSpec, followedBy: Trigger, clearOnFollow: Bool, _ e: inout EventStep,
                     _ c: EvalContext, into out: inout [RuleSignal]) {
        if e.raise == true, let d = devices.resolve(d, for: c.deviceRef) {
            timers.schedule(rule: e.ruleIndex, slot: e.slot, &e.s, at: c.event.ts.ms + d)
        }
        if followedBy.test(c) == true {
            e.s.cancelTimer()
            if clearOnFollow { e.clear(c, into: &out) }
        }
        if !clearOnFollow && e.rule.clearHolds(c, raise: e.raise) { e.clear(c, into: &out) }
    }

    func notFollowedDue(_ t: inout TimerStep, into out: inout [RuleSignal]) {
        t.s.open = t.rule.clears
        t.occur(devices, into: &out)
    }
}
