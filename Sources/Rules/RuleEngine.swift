import Model

/// Evaluates rules on event time (docs/contract.md §7): `ingest` moves the clock to the event's time, firing every timer due
/// by then in (due, creation) order, then applies the event. Never reads the wall clock.
/// Each kind's handling of events and timers is in its own file (MatchRule, TimedRules, WindowRules,
/// SumBelowRule); here are the clock, the look-up of a rule's key and the dispatch.
public final class RuleEngine {
    let rules: [Rule]
    let devices: RuleDevices
    /// The rules an event can concern, by (event type, device type): `ruleIndex[type.ordinal * deviceTypeCount + typeIndex]`.
    private let ruleIndex: [[Int]]
    private let deviceTypeCount: Int
    /// Event types known when the engine was made (the schema is declared before: rule files are read after it).
    private let eventTypeCount: Int
    var tables: [KeyTable]
    /// By rule: the device attributes it cannot be evaluated without (nil when it reads none).
    private let attrsNeeded: [[String]?]
    /// How many evaluations were not applicable because the device lacks an attribute the rule reads, by
    /// (rule, device); at most `maxGaps` pairs are told apart, the evaluations of later ones are `gapsUntold`.
    public private(set) var registryGaps: [RuleGap: Int] = [:]
    public private(set) var gapsUntold = 0
    static let maxGaps = 10_000
    var timers = TimerQueue()
    public internal(set) var clock: Instant?
    private var lastSweep: Int64 = Int64.min / 2
    /// Rules another engine evaluates that does not hear every device (the partition `keyed` hears only the devices its
    /// rules can affect, `RuleSet.devicesThatCanAffect`): on the devices it does not hear, this engine counts
    /// their evaluations not applicable, and evaluates nothing else of them. Indexed as `ruleIndex`; the devices by
    /// `DeviceRef` position.
    private let gapRules: [(rule: Rule, needed: [String])]
    private let gapIndex: [[Int]]
    private let gapDevices: [Bool]

    /// `gapsOf`: rules evaluated elsewhere, with the devices whose events reach the engine that evaluates them; their
    /// evaluations not applicable on the other devices are counted here.
    public init(rules: RuleSet, registry: Registry, gapsOf elsewhere: (rules: RuleSet, heardThere: Set<String>)? = nil) {
        let compiled = rules.compiled
        self.rules = compiled
        devices = RuleDevices(registry)
        tables = compiled.map { KeyTable(keying: KeyTable.Keying($0.key)) }
        attrsNeeded = compiled.map { r in r.attrsNeeded.isEmpty ? nil : r.attrsNeeded }
        eventTypeCount = EventType.allCases.count
        deviceTypeCount = max(1, devices.typeNames.count)
        ruleIndex = Self.index(compiled, typeNames: devices.typeNames)
        gapRules = (elsewhere?.rules.compiled ?? []).map { ($0, $0.attrsNeeded) }.filter { !$0.needed.isEmpty }
        gapIndex = Self.index(gapRules.map(\.rule), typeNames: devices.typeNames)
        gapDevices = elsewhere.map { registry.catalog.marks($0.heardThere).map(!) } ?? []
    }

    /// The rules an event can concern, by (event type, device type): `[type.ordinal * typeNames.count + typeIndex]`.
    private static func index(_ compiled: [Rule], typeNames: [String]) -> [[Int]] {
        let all = EventType.allCases
        var byType: [[Int]] = Array(repeating: [], count: all.count)
        for (i, r) in compiled.enumerated() {
            var types: Set<EventType>? = []
            for t in r.listeners {
                if let t = t.types, types != nil { types!.formUnion(t) } else { types = nil }
            }
            for t in types ?? Set(all) { byType[t.ordinal].append(i) }
        }
        let deviceTypeCount = max(1, typeNames.count)
        var index: [[Int]] = Array(repeating: [], count: all.count * deviceTypeCount)
        for t in all {
            for (d, name) in typeNames.enumerated() {
                index[t.ordinal * deviceTypeCount + d] = byType[t.ordinal].filter {
                    compiled[$0].deviceTypes.map { $0.contains(name) } ?? true
                }
            }
        }
        return index
    }

    public var nextDue: Instant? {
        while let t = timers.earliest, !isLive(t) { timers.dropEarliest() }
        return timers.earliest.map { Instant(ms: $0.due) }
    }

    public var trackedKeys: Int { tables.reduce(0) { $0 + $1.count } }

    /// An estimate of the memory rule state takes, for the benchmark (keys, windows, timers).
    public var stateBytes: Int { timers.bytes + stateByRule.reduce(0) { $0 + $1.bytes } }

    /// Timers in the heap, live or not yet dropped.
    public var pendingTimers: Int { timers.count }

    /// Per rule: tracked keys, window entries held and estimated bytes (without timers).
    public var stateByRule: [(rule: String, keys: Int, entries: Int, bytes: Int)] {
        zip(rules, tables).map { r, t in
            let usage = t.usage
            return (r.ref.id, t.count, usage.entries, usage.bytes)
        }
    }

    // MARK: time

    public func advance(to t: Instant, into out: inout [RuleSignal]) {
        fireTimers(upTo: t.ms, into: &out)
        if clock.map({ t > $0 }) ?? true { clock = t }
        if t.ms - lastSweep >= 10 * Durations.minute { sweep(t.ms); lastSweep = t.ms }
    }

    /// Where, in the `out` of the latest `ingest`, the signals the event itself caused are (those before were timers
    /// due by its time, those after timers its late arrival made due).
    public private(set) var eventSignals: Range<Int> = 0..<0

    public func ingest(_ event: Event, into out: inout [RuleSignal]) {
        advance(to: event.ts, into: &out)
        eventSignals = out.count..<out.count
        guard let ref = devices.ref(of: event), event.type.ordinal < eventTypeCount else { return }
        let rulesOfEvent = ruleIndex[event.type.ordinal * deviceTypeCount + devices.typeIndex(of: ref)]
        withUnsafePointer(to: event) { e in
            let ctx = EvalContext(eventPointer: e, deviceRef: ref, subjectRef: devices.subjectRef(of: ref), catalog: devices.catalog)
            for ri in rulesOfEvent {
                if let needed = attrsNeeded[ri] { noteMissing(needed, rule: rules[ri], ctx) }
                apply(rule: ri, ctx, into: &out)
            }
            if !gapRules.isEmpty && gapDevices[Int(ref)] {
                for gi in gapIndex[event.type.ordinal * deviceTypeCount + devices.typeIndex(of: ref)] {
                    noteMissing(gapRules[gi].needed, rule: gapRules[gi].rule, ctx)
                }
            }
        }
        eventSignals = eventSignals.lowerBound..<out.count
        // A timer started by a late event may already be due.
        if let c = clock { fireTimers(upTo: c.ms, into: &out) }
    }

    /// Counts the evaluation when the event's device lacks an attribute the rule needs (docs/rules.md, Missing fields).
    private func noteMissing(_ needed: [String], rule r: Rule, _ c: EvalContext) {
        let attrs = c.device.attrs
        var missing: [String] = []
        for a in needed where !attrs.holds(a) { missing.append(a) }
        guard !missing.isEmpty else { return }
        // Missing is not always decisive (`false and missing` is false): count only what could not be judged.
        let durationGap = if case .attr(let a, _, nil)? = r.duration { missing.contains(a) } else { false }
        guard durationGap || r.triggers.contains(where: { $0.listens(to: c.event.type) && $0.test(c) == nil }) else { return }
        let gap = RuleGap(rule: r.ref.id, device: c.event.device, attrs: missing)
        if registryGaps[gap] != nil || registryGaps.count < Self.maxGaps { registryGaps[gap, default: 0] += 1 } else { gapsUntold += 1 }
    }

    /// Starts loading what `ingest` of an event from the device reads first, its entry in the dense device
    /// array. Call as soon as the device is known: with thousands of devices it is rarely in cache, and
    /// validation and dedup run while it loads. (Prefetching the rules' key buckets too measured no gain.)
    public func prefetch(deviceRef ref: DeviceRef?) { devices.prefetch(ref) }

    private func fireTimers(upTo t: Int64, into out: inout [RuleSignal]) {
        while let timer = timers.pop(dueBy: t) {
            if isLive(timer) { fire(timer, into: &out) }
        }
    }

    /// Whether the timer is still its key's: the key's generation and due time match it.
    private func isLive(_ t: RuleTimer) -> Bool {
        let s = tables[Int(t.rule)].slots[Int(t.slot)]
        return s.gen == t.gen && s.due == t.due
    }

    /// For an occurrence a rule's timer raised at `due` for a key of `device`: the rule's kind and when what the
    /// timer waited on began — held since, silent since (absence), unanswered since (not_followed), the window's
    /// start (sum_below) — that is `due` less the rule's duration for the device. nil for another kind.
    public func timerStart(rule id: String, device: DeviceRef, due: Instant) -> (kind: String, since: Instant)? {
        guard let r = rules.first(where: { $0.ref.id == id }) else { return nil }
        let kind: RuleKind.Name, span: Millis?
        switch r.kind {
        case .held(let d): kind = .held; span = devices.resolve(d, for: device.index)
        case .absence(let d): kind = .absence; span = devices.resolve(d, for: device.index)
        case .notFollowed(let d, _, _): kind = .notFollowed; span = devices.resolve(d, for: device.index)
        case .sumBelow(let w, _, _, _): kind = .sumBelow; span = w
        case .match, .count, .sum, .distinctDays: return nil
        }
        return span.map { (kind.rawValue, Instant(ms: due.ms - $0)) }
    }

    // MARK: dispatch

    private func apply(rule ri: Int, _ c: EvalContext, into out: inout [RuleSignal]) {
        unowned(unsafe) let r = rules[ri]
        // A text key is needed to look the key up; a device's id or subject only if a signal names it.
        var text: String?
        if tables[ri].keying == .text {
            guard let t = r.key.text(in: c) else { return }
            text = t
        }
        let raise = r.raises(c)
        // Most events change nothing for most rules: no state, nothing raised.
        let ref = tables[ri].ref(device: c.deviceRef, subject: c.subjectRef)
        let existing = tables[ri].lookup(text, ref: ref)
        if raise != true && !r.recordsUnless && existing == nil { return }
        let slot = existing ?? tables[ri].slot(for: text, ref: ref, device: c.deviceRef)
        var s = tables[ri].take(slot)
        s.device = c.deviceRef
        r.dispatch(EventStep(rule: r, ruleIndex: ri, slot: slot, raise: raise, keyText: text), &s, c, self, into: &out)
        tables[ri].put(slot, s, key: text, ref: ref)
    }

    private func fire(_ timer: RuleTimer, into out: inout [RuleSignal]) {
        let ri = Int(timer.rule)
        // Read from the slot before its state is taken out.
        let text = tables[ri].keepsNames ? tables[ri].names[Int(timer.slot)] : nil
        let ref = keyRef(ri, timer.slot)
        unowned(unsafe) let r = rules[ri]
        var s = tables[ri].take(timer.slot)
        s.due = nil
        r.dispatch(TimerStep(rule: r, ruleIndex: ri, slot: timer.slot, due: timer.due, keyText: text), &s, self, into: &out)
        tables[ri].put(timer.slot, s, key: text, ref: ref)
    }

    // MARK: keys

    /// The number a device- or subject-keyed table looks a device's key up by (-1 for text keys or no device).
    func keyRef(_ ri: Int, device: Int32) -> Int32 {
        device < 0 ? -1 : tables[ri].ref(device: device, subject: devices.subjectRef(of: device))
    }

    /// The same, for a used slot (read before the slot's state is taken out).
    func keyRef(_ ri: Int, _ slot: Int32) -> Int32 {
        keyRef(ri, device: tables[ri].slots[Int(slot)].device)
    }

    /// The key text of a used slot.
    func keyName(_ ri: Int, _ slot: Int32) -> String {
        if tables[ri].keepsNames { return tables[ri].names[Int(slot)] }
        return devices.keyName(rules[ri].key, device: tables[ri].slots[Int(slot)].device)
    }
}

/// The dispatch by kind. Methods of the rule, so that the kind's fields are borrowed from it (the rule outlives
/// the call) and not copied, with a retain of each, for every event.
private extension Rule {
    func dispatch(_ e: EventStep, _ s: inout KeyState, _ c: EvalContext, _ engine: RuleEngine, into out: inout [RuleSignal]) {
        switch kind {
        case .match(let unless): engine.match(unless: unless, e, &s, c, into: &out)
        case .held(let d): engine.held(for: d, e, &s, c, into: &out)
        case .absence(let d): engine.absence(for: d, e, &s, c, into: &out)
        case .notFollowed(let d, let followedBy, let clearOnFollow):
            engine.notFollowed(within: d, followedBy: followedBy, clearOnFollow: clearOnFollow, e, &s, c, into: &out)
        case .count(let w, let n): engine.window(within: w, atLeast: n, value: nil, e, &s, c, into: &out)
        case .sum(let w, let n, let value): engine.window(within: w, atLeast: n, value: .sum(value), e, &s, c, into: &out)
        case .distinctDays(let w, let n): engine.window(within: w, atLeast: n, value: .localDay, e, &s, c, into: &out)
        case .sumBelow(let w, let below, let value, let afterFirst):
            engine.sumBelow(within: w, below: below, value: value, afterFirst: afterFirst, e, &s, c, into: &out)
        }
    }

    func dispatch(_ t: TimerStep, _ s: inout KeyState, _ engine: RuleEngine, into out: inout [RuleSignal]) {
        switch kind {
        case .absence(let d): engine.absenceDue(for: d, t, &s, into: &out)
        case .held: engine.heldDue(t, &s, into: &out)
        case .notFollowed: engine.notFollowedDue(t, &s, into: &out)
        case .sumBelow(let w, let below, _, let afterFirst): engine.sumBelowDue(within: w, below: below, afterFirst: afterFirst, t, &s, into: &out)
        case .match, .count, .sum, .distinctDays: break
        }
    }
}
