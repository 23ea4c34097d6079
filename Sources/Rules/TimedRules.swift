import Model

/// The kinds that wait for a timer: held, absence and not_followed.
extension RuleEngine {
    /// held: a raising event starts the timer (if none is pending and it has not fired), a non-raising one
    /// stops it; the occurrence is at the timer's due time.
    func held(for d: DurationSpec, _ e: EventStep, _ s: inout KeyState, _ c: EvalContext, into out: inout [RuleSignal]) {
        if e.raise == true {
            if s.due == nil && !s.fired, let d = devices.resolve(d, for: c.deviceRef) {
                timers.schedule(rule: e.ruleIndex, slot: e.slot, &s, at: c.event.ts.ms + d)
            }
        } else if e.raise == false {
            s.cancelTimer()
            s.fired = false
        }
        if e.rule.clearHolds(c, raise: e.raise) { e.clear(c, &s, into: &out) }
    }

    func heldDue(_ t: TimerStep, _ s: inout KeyState, into out: inout [RuleSignal]) {
        s.fired = true
        s.open = t.rule.clears
        t.occur(devices, s, into: &out)
    }

    /// absence: every raising event moves the deadline to its time + D; the first one starts the timer, and the
    /// next one after an occurrence clears it.
    func absence(for d: DurationSpec, _ e: EventStep, _ s: inout KeyState, _ c: EvalContext, into out: inout [RuleSignal]) {
        guard e.raise == true else { return }
        let ts = c.event.ts.ms
        if s.fired { s.fired = false; e.clear(c, &s, into: &out) }
        let last = max(s.mark ?? ts, ts)
        s.mark = last
        // One pending timer per key: when it comes due it moves itself on to the latest event + D.
        if s.due == nil, let d = devices.resolve(d, for: c.deviceRef) {
            timers.schedule(rule: e.ruleIndex, slot: e.slot, &s, at: last + d)
        }
    }

    func absenceDue(for d: DurationSpec, _ t: TimerStep, _ s: inout KeyState, into out: inout [RuleSignal]) {
        if let last = s.mark, let d = devices.resolve(d, for: s.device), last + d > t.due {
            timers.schedule(rule: t.ruleIndex, slot: t.slot, &s, at: last + d)
        } else {
            s.fired = true
            s.open = true
            t.occur(devices, s, into: &out)
        }
    }

    /// not_followed: a raising event (re)starts the timer, a follow-up event stops it (and clears the
    /// occurrence with `clear: followed_by`).
    func notFollowed(within d: DurationSpec, followedBy: Trigger, clearOnFollow: Bool, _ e: EventStep, _ s: inout KeyState,
                     _ c: EvalContext, into out: inout [RuleSignal]) {
        if e.raise == true, let d = devices.resolve(d, for: c.deviceRef) {
            timers.schedule(rule: e.ruleIndex, slot: e.slot, &s, at: c.event.ts.ms + d)
        }
        if followedBy.test(c) == true {
            s.cancelTimer()
            if clearOnFollow { e.clear(c, &s, into: &out) }
        }
        if !clearOnFollow && e.rule.clearHolds(c, raise: e.raise) { e.clear(c, &s, into: &out) }
    }

    func notFollowedDue(_ t: TimerStep, _ s: inout KeyState, into out: inout [RuleSignal]) {
        s.open = t.rule.clears
        t.occur(devices, s, into: &out)
    }
}
