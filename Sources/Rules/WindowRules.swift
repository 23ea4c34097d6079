import Model

/// What a window rule adds up for each raising event.
enum WindowValue {
    /// The event's `value` (sum); an event without a number adds nothing.
    case sum(Expr)
    /// The event's local day, counted once (distinct_days).
    case localDay
}

/// The kinds over a sliding window of raising events: count (`value` nil), sum and distinct_days.
extension RuleEngine {
    /// Each raising event enters the window; the rule occurs whenever the window's total reaches `atLeast`.
    func window(within d: DurationSpec, atLeast: Double, value: WindowValue?, _ e: EventStep, _ s: inout KeyState, _ c: EvalContext,
                into out: inout [RuleSignal]) {
        guard let w = devices.resolve(d, for: c.deviceRef) else { return }
        if e.raise == true {
            let ts = c.event.ts.ms
            var v = 1.0
            switch value {
            case .sum(let expr)?:
                guard case .number(let x) = expr.eval(c) else { return }
                v = x
            case .localDay?: v = Double(c.localTime().dayNumber)
            case nil: break
            }
            s.insert(ts, v)
            s.prune(before: max(clock?.ms ?? ts, ts) - w)
            if Self.total(of: s.window, in: ts - w, ts, value) >= atLeast { e.occur(c, &s, into: &out) }
        }
        if e.rule.clearHolds(c, raise: e.raise) { e.clear(c, &s, into: &out) }
    }

    /// The window's total over (from, to]: entries, their values, or their distinct days.
    private static func total(of window: [WindowEntry], in from: Int64, _ to: Int64, _ value: WindowValue?) -> Double {
        var total = 0.0
        var days = Set<Double>()
        for e in window where e.t > from && e.t <= to {
            switch value {
            case nil: total += 1
            case .sum?: total += e.v
            case .localDay?: days.insert(e.v)
            }
        }
        if case .localDay? = value { return Double(days.count) }
        return total
    }
}
