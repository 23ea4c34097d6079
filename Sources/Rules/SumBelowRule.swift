import Model

/// sum_below: once `afterFirst` has passed since the key's first reading, the readings within the window add up
/// to less than `below`. The condition is evaluated whenever it can change: at readings, at the end of the
/// warm-up, and when an entry leaves the window.
extension RuleEngine {
    func sumBelow(within w: Millis, below: Double, value: Expr, afterFirst: Millis, _ e: EventStep, _ s: inout KeyState,
                  _ c: EvalContext, into out: inout [RuleSignal]) {
        guard e.raise == true, case .number(let x) = value.eval(c) else { return }
        let ts = c.event.ts.ms
        if s.mark == nil { s.mark = ts }
        s.insert(ts, x)
        Self.keepNewestReaching(below, &s)
        let t = max(clock?.ms ?? ts, ts)
        let change = evaluateSumBelow(within: w, below: below, afterFirst: afterFirst, e.ruleIndex, e.slot, &s, at: t)
        if let change { out.append(change.signal(e.rule.ref, key: e.key(c), device: devices.reference(s.device), at: t)) }
    }

    func sumBelowDue(within w: Millis, below: Double, afterFirst: Millis, _ t: TimerStep, _ s: inout KeyState, into out: inout [RuleSignal]) {
        let change = evaluateSumBelow(within: w, below: below, afterFirst: afterFirst, t.ruleIndex, t.slot, &s, at: t.due)
        if let change { out.append(change.signal(t.rule.ref, key: t.key(devices, s), device: devices.reference(s.device), at: t.due)) }
    }

    /// Whether the condition became true (an occurrence) or false (a clear) at `t`; schedules the next check.
    private func evaluateSumBelow(within w: Millis, below: Double, afterFirst: Millis, _ ri: Int, _ slot: Int32,
                                  _ s: inout KeyState, at t: Int64) -> SumBelowChange? {
        guard let first = s.mark else { return nil }
        s.prune(before: t - w)
        let sum = s.window.reduce(0) { $0 + $1.v }
        let warm = t >= first + afterFirst
        var change: SumBelowChange?
        if warm && sum < below && !s.fired {
            s.fired = true
            change = .occurred
        } else if sum >= below && s.fired {
            s.fired = false
            change = .cleared
        }
        var next: Int64? = s.window.first.map { $0.t + w }
        if !warm { next = min(next ?? .max, first + afterFirst) }
        if let next, next > t {
            // A pending earlier check stays: it re-evaluates and moves itself on. Replacing it at every reading
            // would leave the heap full of dead timers.
            if s.due.map({ next < $0 }) ?? true { timers.schedule(rule: ri, slot: slot, &s, at: next) }
        } else {
            s.cancelTimer()
        }
        return change
    }

    /// sum_below is only ever evaluated at the clock, so of its entries only the newest ones whose sum reaches the
    /// threshold matter: while they are all in the window the sum is not below it, and every older entry leaves
    /// the window before them. Dropping the rest keeps a household's state small however often its meter
    /// reports. Only done while the kept values are ≥ 0 (a negative one could bring the sum back down).
    private static func keepNewestReaching(_ threshold: Double, _ s: inout KeyState) {
        var sum = 0.0
        var i = s.window.count - 1
        while i > 0 {
            let v = s.window[i].v
            if v < 0 { return }
            sum += v
            if sum >= threshold { break }
            i -= 1
        }
        if i > 0 {
            s.window.removeFirst(i)
        }
    }
}

/// What an evaluation of sum_below found.
enum SumBelowChange {
    case occurred, cleared

    func signal(_ rule: RuleRef, key: String, device: DeviceRef, at t: Int64) -> RuleSignal {
        switch self {
        case .occurred: return .occurrence(rule: rule, key: key, device: device, at: Instant(ms: t))
        case .cleared: return .cleared(rule: rule, key: key, device: device, at: Instant(ms: t))
        }
    }
}
