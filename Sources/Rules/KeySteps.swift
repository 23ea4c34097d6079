import Model

/// One rule at one key while an event changes the key's state. The state itself is passed beside it (`inout`,
/// taken out of its table so that its window is not copied on write); this part never changes, so it is passed
/// without a copy.
struct EventStep {
    /// Rules live as long as the engine: no retain and release of the rule for every event.
    unowned(unsafe) let rule: Rule
    let ruleIndex: Int
    let slot: Int32
    /// true when a trigger raises the rule for the event, false when one listens and does not, nil otherwise.
    let raise: Bool?
    /// A text key's text; a device's id or subject is read only if a signal names it (the device is rarely in cache).
    let keyText: String?

    func key(_ c: EvalContext) -> String { keyText ?? rule.key.text(in: c)! }

    /// Reports an occurrence at the event's time, kept open if the rule can clear it.
    func occur(_ c: EvalContext, _ s: inout KeyState, into out: inout [RuleSignal]) {
        if rule.clears { s.open = true }
        out.append(.occurrence(rule: rule.ref, key: key(c), device: DeviceRef(unchecked: c.deviceRef), at: c.event.ts))
    }

    /// Reports the clear of an open occurrence at the event's time.
    func clear(_ c: EvalContext, _ s: inout KeyState, into out: inout [RuleSignal]) {
        guard s.open else { return }
        s.open = false
        out.append(.cleared(rule: rule.ref, key: key(c), device: DeviceRef(unchecked: c.deviceRef), at: c.event.ts))
    }
}

/// One rule at one key while its timer fires; the key's state is passed beside it, as for `EventStep`.
struct TimerStep {
    unowned(unsafe) let rule: Rule
    let ruleIndex: Int
    let slot: Int32
    let due: Int64
    /// A text key's text; else the key is made from the key's device only if a signal names it.
    let keyText: String?

    func key(_ devices: RuleDevices, _ s: KeyState) -> String { keyText ?? devices.keyName(rule.key, device: s.device) }

    /// Reports an occurrence at the timer's due time.
    func occur(_ devices: RuleDevices, _ s: KeyState, into out: inout [RuleSignal]) {
        out.append(.occurrence(rule: rule.ref, key: key(devices, s), device: devices.reference(s.device), at: Instant(ms: due)))
    }
}
