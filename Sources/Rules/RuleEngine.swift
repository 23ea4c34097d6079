import Foundation
import Model

/// The state of one (rule, key): small, and dropped when nothing is pending.
struct KeyState: Codable {
    /// The device of the latest event of this key (a timer's occurrence names it).
    var device: String
    /// Due time of the pending timer (ms), if any.
    var due: Int64?
    var gen: UInt32 = 0
    /// held/absence: the timer has fired; sum_below: the condition is true.
    var fired = false
    /// Window entries' times (ms), ascending.
    var times: [Int64] = []
    /// Window entries' values (sum, sum_below) or local day numbers (distinct_days), parallel to `times`.
    var values: [Double] = []
    /// sum_below: the first event of the key.
    var first: Int64?
    /// absence: the latest matching event.
    var last: Int64?
    /// An occurrence was reported and not yet cleared: only then is a clear worth reporting.
    var open = false

    var isIdle: Bool { due == nil && !fired && !open && times.isEmpty && first == nil && last == nil }
}

/// The keys of one rule: each key's state in a slot, slots reused when a key goes idle. Timers and look-ups use
/// the slot number, so a key's text is hashed once per event and never copied around.
struct KeyTable {
    var index: [String: Int32] = [:]
    var names: [String] = []
    var slots: [KeyState] = []
    var free: [Int32] = []

    var count: Int { index.count }

    /// The slot of `key`, made (empty) if the key is new.
    mutating func slot(for key: String, device: String) -> Int32 {
        if let i = index[key] { return i }
        let i: Int32
        if let f = free.popLast() {
            i = f
            names[Int(i)] = key
            slots[Int(i)].device = device
        } else {
            i = Int32(slots.count)
            names.append(key)
            slots.append(KeyState(device: device))
        }
        index[key] = i
        return i
    }

    /// Moves a slot's state out (so its arrays are not copied on write); `put` brings it back.
    mutating func take(_ i: Int32) -> KeyState {
        var s = KeyState(device: "")
        swap(&s, &slots[Int(i)])
        return s
    }

    /// Stores a state; an idle one frees its slot. The generation carries on, so old timers never match.
    mutating func put(_ i: Int32, _ s: KeyState) {
        if s.isIdle {
            index.removeValue(forKey: names[Int(i)])
            names[Int(i)] = ""
            var empty = KeyState(device: "")
            empty.gen = s.gen &+ 1
            slots[Int(i)] = empty
            free.append(i)
        } else {
            slots[Int(i)] = s
        }
    }
}

private struct Timer: Comparable {
    var due: Int64
    var seq: UInt64
    var rule: Int32
    var gen: UInt32
    var slot: Int32
    static func < (a: Timer, b: Timer) -> Bool { a.due != b.due ? a.due < b.due : a.seq < b.seq }
    static func == (a: Timer, b: Timer) -> Bool { a.due == b.due && a.seq == b.seq }
}

/// Evaluates rules on event time (SPEC §4): `ingest` moves the clock to the event's time, firing every timer due
/// by then in (due, creation) order, then applies the event. Never reads the wall clock.
public final class RuleEngine {
    let rules: [Rule]
    private let registry: Registry
    private var byType: [[Int]]
    private var tables: [KeyTable]
    private var timers = MinHeap<Timer>()
    private var seq: UInt64 = 0
    public private(set) var clock: Instant?
    private var lastSweep: Int64 = Int64.min / 2
    private var clocks: [String: LocalClock] = [:]
    /// Each device of `registry.deviceTable` with its community's clock, by `Event.deviceRef`.
    private var deviceInfo: [DevicePlace] = []

    public init(rules: RuleSet, registry: Registry) {
        self.rules = rules.compiled
        self.registry = registry
        let all = EventType.allCases
        byType = Array(repeating: [], count: all.count)
        tables = Array(repeating: KeyTable(), count: rules.compiled.count)
        for (i, r) in rules.compiled.enumerated() {
            var types: Set<EventType>? = []
            func add(_ t: Set<EventType>?) { if let t, types != nil { types!.formUnion(t) } else { types = nil } }
            for t in r.triggers { add(t.types) }
            if let c = r.clear { add(c.types) }
            if let f = r.followedBy { add(f.types) }
            if let u = r.unless { add(u.0.types) }
            for t in types ?? Set(all) { byType[t.ordinal].append(i) }
        }
        for c in registry.communities.values {
            clocks[c.id] = LocalClock(identifier: c.timezone) ?? LocalClock(identifier: "Asia/Shanghai")
        }
        let fallback = LocalClock(identifier: "Asia/Shanghai")!
        deviceInfo = registry.deviceTable.map { DevicePlace(device: $0, clock: clocks[$0.community] ?? fallback) }
    }

    public var nextDue: Instant? {
        while let t = timers.peek, !isLive(t) { timers.pop() }
        return timers.peek.map { Instant(ms: $0.due) }
    }

    public var trackedKeys: Int { tables.reduce(0) { $0 + $1.count } }

    /// An estimate of the memory rule state takes, for the benchmark (keys, windows, timers).
    public var stateBytes: Int {
        var n = timers.count * MemoryLayout<Timer>.stride
        for t in tables {
            // Index entry (key text + slot), name, slot, free-list entry.
            n += t.slots.count * (MemoryLayout<KeyState>.stride + 16 + 4) + t.index.count * (16 + 4) * 2
            for (k, i) in t.index {
                let v = t.slots[Int(i)]
                n += (k.utf8.count > 15 ? k.utf8.count * 2 : 0) + (v.times.isEmpty ? 0 : 32 + v.times.count * 8)
                    + (v.values.isEmpty ? 0 : 32 + v.values.count * 8)
            }
        }
        return n
    }

    // MARK: time

    public func advance(to t: Instant, into out: inout [RuleSignal]) {
        fireTimers(upTo: t.ms, into: &out)
        if clock.map({ t > $0 }) ?? true { clock = t }
        if t.ms - lastSweep >= 10 * Durations.minute { sweep(t.ms); lastSweep = t.ms }
    }

    public func ingest(_ event: Event, into out: inout [RuleSignal]) {
        advance(to: event.ts, into: &out)
        var ref = Int(event.deviceRef)
        if ref < 0 || ref >= deviceInfo.count || deviceInfo[ref].device.id != event.device {
            guard let r = registry.deviceRefs[event.device] else { return }
            ref = Int(r)
        }
        let ctx = EvalContext(event: event, place: deviceInfo[ref])
        for ri in byType[event.type.ordinal] {
            apply(rule: ri, ctx, into: &out)
        }
        // A timer started by a late event may already be due.
        if let c = clock { fireTimers(upTo: c.ms, into: &out) }
    }

    private func fireTimers(upTo t: Int64, into out: inout [RuleSignal]) {
        while let top = timers.peek, top.due <= t {
            timers.pop()
            guard isLive(top) else { continue }
            fire(top, into: &out)
        }
    }

    private func isLive(_ t: Timer) -> Bool {
        let s = tables[Int(t.rule)].slots[Int(t.slot)]
        return s.gen == t.gen && s.due == t.due
    }

    private func schedule(_ rule: Int, _ slot: Int32, _ s: inout KeyState, at due: Int64) {
        s.gen &+= 1
        s.due = due
        seq += 1
        timers.push(Timer(due: due, seq: seq, rule: Int32(rule), gen: s.gen, slot: slot))
    }

    private func cancel(_ s: inout KeyState) { s.gen &+= 1; s.due = nil }

    // MARK: events

    private func key(_ r: Rule, _ c: EvalContext) -> String? {
        switch r.key {
        case .device: return c.event.device
        case .subject: return c.device.subject
        case .data(let f): return Self.keyText(c.event.data[f])
        case .deviceData(let f): return Self.keyText(c.event.data[f]).map { "\(c.event.device)/\($0)" }
        }
    }

    static func keyText(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .number(let d)?: return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b)?: return String(b)
        default: return nil
        }
    }

    /// true/false when the trigger listens to this event type and its condition could be evaluated; nil otherwise.
    private func test(_ t: Trigger, _ c: EvalContext) -> Bool? {
        if let types = t.types, !types.contains(c.event.type) { return nil }
        guard let when = t.when else { return true }
        return when.test(c)
    }

    private func apply(rule ri: Int, _ c: EvalContext, into out: inout [RuleSignal]) {
        let r = rules[ri]
        if let dt = r.deviceTypes, !dt.contains(c.device.type) { return }
        guard let k = key(r, c) else { return }
        let ts = c.event.ts.ms
        var raise: Bool? = nil
        for t in r.triggers {
            switch test(t, c) {
            case true?: raise = true
            case false?: if raise == nil { raise = false }
            case nil: break
            }
            if raise == true { break }
        }
        // Most events change nothing for most rules: no state, nothing raised.
        let existing = tables[ri].index[k]
        if raise != true && r.unless == nil && existing == nil { return }
        let slot = existing ?? tables[ri].slot(for: k, device: c.event.device)
        // Taken out of the table while it changes, so its window arrays are not copied on write.
        var s = tables[ri].take(slot)
        s.device = c.event.device
        let at = c.event.ts
        func occur(_ t: Instant) { if r.clears { s.open = true }; out.append(.occurrence(rule: r.ref, key: k, device: s.device, at: t)) }
        func cleared(_ t: Instant) {
            guard s.open else { return }
            s.open = false
            out.append(.cleared(rule: r.ref, key: k, device: s.device, at: t))
        }
        let clearHolds: Bool = {
            if r.clearOtherwise { return raise == false }
            if let cl = r.clear { return test(cl, c) == true }
            return false
        }()

        switch r.kind {
        case .match:
            if let (u, w) = r.unless, test(u, c) == true {
                insert(&s, ts, 0)
            }
            if raise == true, let (_, w) = r.unless {
                if s.times.contains(where: { $0 > ts - w && $0 <= ts }) { raise = false }
            }
            if raise == true { occur(at) }
            if clearHolds { cleared(at) }
            if let (_, w) = r.unless { prune(&s, before: (clock?.ms ?? ts) - w) }

        case .held:
            if raise == true {
                if s.due == nil && !s.fired, let d = r.duration?.resolve(c.device) { schedule(ri, slot, &s, at: ts + d) }
            } else if raise == false {
                cancel(&s)
                s.fired = false
            }
            if clearHolds { cleared(at) }

        case .absence:
            if raise == true {
                if s.fired { s.fired = false; cleared(at) }
                let last = max(s.last ?? ts, ts)
                s.last = last
                // One pending timer per key: when it comes due it moves itself on to the latest event + D.
                if s.due == nil, let d = r.duration?.resolve(c.device) { schedule(ri, slot, &s, at: last + d) }
            }

        case .notFollowed:
            if raise == true, let d = r.duration?.resolve(c.device) {
                schedule(ri, slot, &s, at: ts + d)
            }
            if let fb = r.followedBy, test(fb, c) == true {
                cancel(&s)
                if r.clearOnFollow { cleared(at) }
            }
            if clearHolds && !r.clearOnFollow { cleared(at) }

        case .count, .sum, .distinctDays:
            guard let w = r.duration?.resolve(c.device) else { break }
            if raise == true {
                var v = 1.0
                if r.kind == .sum {
                    guard case .number(let x) = r.value!.eval(c) else { break }
                    v = x
                } else if r.kind == .distinctDays {
                    v = Double(c.localTime().dayNumber)
                }
                insert(&s, ts, v)
                prune(&s, before: max(clock?.ms ?? ts, ts) - w)
                var total = 0.0
                var days = Set<Double>()
                for (i, t) in s.times.enumerated() where t > ts - w && t <= ts {
                    switch r.kind {
                    case .count: total += 1
                    case .sum: total += s.values[i]
                    default: days.insert(s.values[i])
                    }
                }
                if r.kind == .distinctDays { total = Double(days.count) }
                if total >= r.threshold { occur(at) }
            }
            if clearHolds { cleared(at) }

        case .sumBelow:
            if raise == true {
                guard case .number(let x) = r.value!.eval(c) else { break }
                if s.first == nil { s.first = ts }
                insert(&s, ts, x)
                evaluateSumBelow(ri, slot, k, &s, at: max(clock?.ms ?? ts, ts), into: &out)
            }
        }
        tables[ri].put(slot, s)
    }

    /// sum_below: the condition (after the warm-up, the window's sum is below the threshold) is evaluated
    /// whenever it can change: at events, at the end of the warm-up, and when an entry leaves the window.
    private func evaluateSumBelow(_ ri: Int, _ slot: Int32, _ k: String, _ s: inout KeyState, at t: Int64, into out: inout [RuleSignal]) {
        let r = rules[ri]
        guard let w = r.duration?.fixed, let first = s.first else { return }
        prune(&s, before: t - w)
        let sum = s.values.reduce(0, +)
        let warm = t >= first + (r.afterFirst ?? w)
        if warm && sum < r.threshold && !s.fired {
            s.fired = true
            out.append(.occurrence(rule: r.ref, key: k, device: s.device, at: Instant(ms: t)))
        } else if sum >= r.threshold && s.fired {
            s.fired = false
            out.append(.cleared(rule: r.ref, key: k, device: s.device, at: Instant(ms: t)))
        }
        var next: Int64? = s.times.first.map { $0 + w }
        if !warm { next = min(next ?? .max, first + (r.afterFirst ?? w)) }
        if let next, next > t {
            if s.due != next { schedule(ri, slot, &s, at: next) }
        } else {
            cancel(&s)
        }
    }

    private func fire(_ t: Timer, into out: inout [RuleSignal]) {
        let ri = Int(t.rule)
        let r = rules[ri]
        let key = tables[ri].names[Int(t.slot)]
        var s = tables[ri].take(t.slot)
        let at = Instant(ms: t.due)
        s.due = nil
        switch r.kind {
        case .absence:
            if let last = s.last, let device = registry.devices[s.device], let d = r.duration?.resolve(device), last + d > t.due {
                schedule(ri, t.slot, &s, at: last + d)
            } else {
                s.fired = true
                s.open = true
                out.append(.occurrence(rule: r.ref, key: key, device: s.device, at: at))
            }
        case .held:
            s.fired = true
            s.open = r.clears
            out.append(.occurrence(rule: r.ref, key: key, device: s.device, at: at))
        case .notFollowed:
            s.open = r.clears
            out.append(.occurrence(rule: r.ref, key: key, device: s.device, at: at))
        case .sumBelow:
            evaluateSumBelow(ri, t.slot, key, &s, at: t.due, into: &out)
        default:
            break
        }
        tables[ri].put(t.slot, s)
    }

    private func insert(_ s: inout KeyState, _ t: Int64, _ v: Double) {
        var i = s.times.count
        while i > 0 && s.times[i - 1] > t { i -= 1 }
        s.times.insert(t, at: i)
        s.values.insert(v, at: i)
    }

    /// Drops window entries at or before `t` (they have left a window ending now).
    private func prune(_ s: inout KeyState, before t: Int64) {
        var n = 0
        while n < s.times.count && s.times[n] <= t { n += 1 }
        if n > 0 { s.times.removeFirst(n); s.values.removeFirst(n) }
    }

    /// Drops window entries that have left their windows and keys with nothing pending.
    private func sweep(_ now: Int64) {
        for ri in tables.indices {
            let r = rules[ri]
            let w: Int64
            switch r.kind {
            case .count, .sum, .distinctDays: w = r.duration?.fixed ?? 7 * Durations.day
            case .match: guard let u = r.unless else { continue }; w = u.1
            default: continue
            }
            for slot in Array(tables[ri].index.values) where !tables[ri].slots[Int(slot)].times.isEmpty {
                var s = tables[ri].take(slot)
                prune(&s, before: now - w)
                tables[ri].put(slot, s)
            }
        }
    }

    // MARK: snapshot

    struct Snapshot: Codable {
        var clock: Int64?
        var rules: [String: [String: KeyState]]
    }

    public func snapshot() throws -> [UInt8] {
        var byID: [String: [String: KeyState]] = [:]
        for (i, r) in rules.enumerated() where tables[i].count > 0 {
            byID[r.ref.id] = tables[i].index.mapValues { tables[i].slots[Int($0)] }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        return Array(try enc.encode(Snapshot(clock: clock?.ms, rules: byID)))
    }

    public func restore(_ bytes: [UInt8]) throws {
        let snap = try JSONDecoder().decode(Snapshot.self, from: Data(bytes))
        clock = snap.clock.map(Instant.init(ms:))
        timers = MinHeap()
        for (i, r) in rules.enumerated() {
            tables[i] = KeyTable()
            let saved = snap.rules[r.ref.id] ?? [:]
            for k in saved.keys.sorted() {
                guard var s = saved[k] else { continue }
                let slot = tables[i].slot(for: k, device: s.device)
                s.gen = tables[i].slots[Int(slot)].gen
                if let due = s.due { schedule(i, slot, &s, at: due) }
                tables[i].put(slot, s)
            }
        }
    }
}

