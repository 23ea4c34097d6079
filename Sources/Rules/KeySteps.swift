import Model

/// One rule at one key while an event changes the key's state, taken out of its table (so its window is not
/// copied on write). The kinds' event handlers change `s` and report through `occur` and `clear`.
struct EventStep {
    /// Rules live as long as the engine: no retain and release of the rule for every event.
    unowned(unsafe) let rule: Rule
    let ruleIndex: Int
    let slot: Int32
    var s: KeyState
    /// true when a trigger raises the rule for the event, false when one listens and does not, nil otherwise.
    var raise: Bool?
    /// The key's text: given for text keys, made for a device's id or subject only if a signal names it (the
    /// device is rarely in cache).
    private var keyText: String?

    init(rule: Rule, ruleIndex: Int, slot: Int32, s: KeyState, raise: Bool?, keyText: String?) {
        self.rule = rule; self.ruleIndex = ruleIndex; self.slot = slot; self.s = s; self.raise = raise; self.keyText = keyText
    }

    mutating func key(_ c: EvalContext) -> String {
        if let keyText { return keyText }
        let k = rule.key.text(in: c)!
        keyText = k
        return k
    }

    /// Reports an occurrence at the event's time (or `t`), kept open if the rule can clear it.
    mutating func occur(_ c: EvalContext, at t: Instant? = nil, into out: inout [RuleSignal]) {
        if rule.clears { s.open = true }
        out.append(.occurrence(rule: rule.ref, key: key(c), device: c.event.device, at: t ?? c.event.ts))
    }

    /// Reports the clear of an open occurrence at the event's time.
    mutating func clear(_ c: EvalContext, into out: inout [RuleSignal]) {
        guard s.open else { return }
        s.open = false
        out.append(.cleared(rule: rule.ref, key: key(c), device: c.event.device, at: c.event.ts))
    }
}

/// One rule at one key while its timer fires, the key's state taken out of its table.
struct TimerStep {
    unowned(unsafe) let rule: Rule
    let ruleIndex: Int
    let slot: Int32
    let due: Int64
    var s: KeyState
    /// The key's text: a text key's own, else made from the key's device only if a signal names it.
    private var keyText: String?

    init(rule: Rule, timer: RuleTimer, s: KeyState, keyText: String?) {
        self.rule = rule; self.ruleIndex = Int(timer.rule); self.slot = timer.slot; self.due = timer.due
        self.s = s; self.keyText = keyText
    }

    mutating func key(_ devices: RuleDevices) -> String {
        if let keyText { return keyText }
        let k = devices.keyName(rule.key, device: s.device)
        keyText = k
        return k
    }

    /// Reports an occurrence at the timer's due time.
    mutating func occur(_ devices: RuleDevices, into out: inout [RuleSignal]) {
        out.append(.occurrence(rule: rule.ref, key: key(devices), device: devices.id(of: s.device), at: Instant(ms: due)))
    }
}
