import Foundation
import Model
import CPrefetch

/// One entry of a key's window: when, and the value it adds (1 for count, the local day for distinct_days).
struct WindowEntry: Equatable {
    var t: Int64
    var v: Double
}

/// The state of one (rule, key): small (48 bytes plus its window), and dropped when nothing is pending. Optional
/// times are plain integers with a sentinel; the device is its index in the registry's device table.
struct KeyState {
    /// The device of the latest event of this key (a timer's occurrence names it), as `Event.deviceRef`.
    var device: Int32
    var gen: UInt32 = 0
    private var dueMs = Int64.min
    private var markMs = Int64.min
    /// Window entries, ascending in time.
    var window: [WindowEntry] = []
    /// held/absence: the timer has fired; sum_below: the condition is true.
    var fired = false
    /// An occurrence was reported and not yet cleared: only then is a clear worth reporting.
    var open = false

    init(device: Int32) { self.device = device }

    /// Due time of the pending timer (ms), if any.
    var due: Int64? {
        get { dueMs == .min ? nil : dueMs }
        set { dueMs = newValue ?? .min }
    }
    /// sum_below: the first event of the key. absence: the latest matching event. (No kind needs both.)
    var mark: Int64? {
        get { markMs == .min ? nil : markMs }
        set { markMs = newValue ?? .min }
    }

    var isIdle: Bool { dueMs == .min && !fired && !open && window.isEmpty && markMs == .min }
}

/// The saved form of a key's state (the rule state snapshot), by device id so that it survives a registry edit.
struct SavedKeyState: Codable, Equatable {
    var device: String
    var due: Int64?
    var gen: UInt32
    var fired: Bool
    var times: [Int64]
    var values: [Double]
    var first: Int64?
    var last: Int64?
    var open: Bool
}

/// The keys of one rule: each key's state in a slot, slots reused when a key goes idle. Timers and look-ups use
/// the slot number, so a key is looked up once per event and never copied around. A key that is the device's id or
/// subject is looked up by the device's (subject's) number and not stored: it is read from the slot's device.
struct KeyTable {
    enum Keying { case text, device, subject }
    let keying: Keying
    var index: [String: Int32] = [:]
    var refs = RefIndex()
    var names: [String] = []
    var slots: [KeyState] = []
    /// Free slots form a list through their `device` field.
    var freeHead: Int32 = -1

    init(keying: Keying) { self.keying = keying }

    var keepsNames: Bool { keying == .text }
    var count: Int { keying == .text ? index.count : refs.count }
    /// The slots in use.
    var used: [Int32] { keying == .text ? Array(index.values) : refs.entries.map(\.slot) }

    /// The slot of a key: by its text, or by `ref` (the device's or subject's number) for device and subject keys.
    @inline(__always) func lookup(_ key: String?, ref: Int32) -> Int32? {
        keying == .text ? index[key!] : refs[ref]
    }

    /// The slot of the key, made (empty) if the key is new. `key` is needed only for text keys.
    mutating func slot(for key: String?, ref: Int32, device: Int32) -> Int32 {
        if let i = lookup(key, ref: ref) { return i }
        let i: Int32
        if freeHead >= 0 {
            i = freeHead
            freeHead = slots[Int(i)].device
            slots[Int(i)].device = device
            if keepsNames { names[Int(i)] = key! }
        } else {
            i = Int32(slots.count)
            slots.append(KeyState(device: device))
            if keepsNames { names.append(key!) }
        }
        if keying == .text { index[key!] = i } else { refs.set(ref, i) }
        return i
    }

    /// Moves a slot's state out (so its arrays are not copied on write); `put` brings it back.
    mutating func take(_ i: Int32) -> KeyState {
        var s = KeyState(device: -1)
        swap(&s, &slots[Int(i)])
        return s
    }

    /// Stores the state of the key; an idle one frees its slot. The generation carries on, so old timers never match.
    mutating func put(_ i: Int32, _ s: KeyState, key: String?, ref: Int32) {
        if s.isIdle {
            if keying == .text { index.removeValue(forKey: key!) } else { refs.remove(ref) }
            if keepsNames { names[Int(i)] = "" }
            var empty = KeyState(device: freeHead)
            empty.gen = s.gen &+ 1
            slots[Int(i)] = empty
            freeHead = i
        } else {
            slots[Int(i)] = s
        }
    }
}

/// 24 bytes. `seq` (creation order among timers due at the same time) wraps after 2³² timers; it only orders
/// timers with the same due time, so a wrap could at worst swap two of those.
private struct Timer: Comparable {
    var due: Int64
    var seq: UInt32
    var slot: Int32
    var gen: UInt32
    var rule: UInt16
    static func < (a: Timer, b: Timer) -> Bool { a.due != b.due ? a.due < b.due : a.seq < b.seq }
    static func == (a: Timer, b: Timer) -> Bool { a.due == b.due && a.seq == b.seq }
}

/// Evaluates rules on event time (SPEC §4): `ingest` moves the clock to the event's time, firing every timer due
/// by then in (due, creation) order, then applies the event. Never reads the wall clock.
public final class RuleEngine {
    let rules: [Rule]
    private let registry: Registry
    /// The rules an event can concern, by (event type, device type): `ruleIndex[type.ordinal * deviceTypes + place.typeIndex]`.
    private let ruleIndex: [[Int]]
    private let deviceTypeCount: Int
    private var tables: [KeyTable]
    private var timers = MinHeap<Timer>()
    private var seq: UInt32 = 0
    public private(set) var clock: Instant?
    private var lastSweep: Int64 = Int64.min / 2
    /// Each device of `registry.deviceTable` with its community's clock, by `Event.deviceRef`.
    private let deviceInfo: [DevicePlace]
    private let deviceKeys: [DeviceKeys]

    public init(rules: RuleSet, registry: Registry) {
        let compiled = rules.compiled
        self.rules = compiled
        self.registry = registry
        let all = EventType.allCases
        var byType: [[Int]] = Array(repeating: [], count: all.count)
        tables = rules.compiled.map { KeyTable(keying: Self.keying($0.key)) }
        for (i, r) in rules.compiled.enumerated() {
            var types: Set<EventType>? = []
            func add(_ t: Set<EventType>?) { if let t, types != nil { types!.formUnion(t) } else { types = nil } }
            for t in r.triggers { add(t.types) }
            if let c = r.clear { add(c.types) }
            if let f = r.followedBy { add(f.types) }
            if let u = r.unless { add(u.0.types) }
            for t in types ?? Set(all) { byType[t.ordinal].append(i) }
        }
        let catalog = registry.catalog
        let deviceTypes = catalog.types
        let deviceTypeCount = max(1, deviceTypes.count)
        self.deviceTypeCount = deviceTypeCount
        deviceInfo = catalog.refs.map { DevicePlace(device: catalog[$0], clock: catalog.clock(of: $0)) }
        deviceKeys = catalog.refs.map { DeviceKeys(typeIndex: Int32(catalog.typeIndex(of: $0)), subjectRef: catalog.subjectIndex(of: $0)) }
        var ruleIndex: [[Int]] = Array(repeating: [], count: all.count * deviceTypeCount)
        for t in all {
            for (d, name) in deviceTypes.enumerated() {
                ruleIndex[t.ordinal * deviceTypeCount + d] = byType[t.ordinal].filter {
                    compiled[$0].deviceTypes.map { $0.contains(name) } ?? true
                }
            }
        }
        self.ruleIndex = ruleIndex
    }

    public var nextDue: Instant? {
        while let t = timers.peek, !isLive(t) { timers.pop() }
        return timers.peek.map { Instant(ms: $0.due) }
    }

    public var trackedKeys: Int { tables.reduce(0) { $0 + $1.count } }

    /// An estimate of the memory rule state takes, for the benchmark (keys, windows, timers).
    public var stateBytes: Int { timers.capacity * MemoryLayout<Timer>.stride + stateByRule.reduce(0) { $0 + $1.bytes } }

    /// Timers in the heap, live or not yet dropped.
    public var pendingTimers: Int { timers.count }

    /// Per rule: tracked keys, window entries held and estimated bytes (without timers).
    public var stateByRule: [(rule: String, keys: Int, entries: Int, bytes: Int)] {
        zip(rules, tables).map { r, t in
            // What the tables have allocated: slots, names, free list, and the index's buckets (key, slot, 1 bit).
            var n = t.slots.capacity * MemoryLayout<KeyState>.stride + t.names.capacity * 16
                + t.index.capacity * (16 + 4) + t.index.capacity / 8 + t.refs.bytes
            var entries = 0
            for (k, _) in t.index where k.utf8.count > 15 { n += k.utf8.count * 2 }
            for i in t.used {
                let v = t.slots[Int(i)]
                entries += v.window.count
                n += v.window.isEmpty ? 0 : 32 + v.window.capacity * MemoryLayout<WindowEntry>.stride
            }
            return (r.ref.id, t.count, entries, n)
        }
    }

    // MARK: time

    public func advance(to t: Instant, into out: inout [RuleSignal]) {
        fireTimers(upTo: t.ms, into: &out)
        if clock.map({ t > $0 }) ?? true { clock = t }
        if t.ms - lastSweep >= 10 * Durations.minute { sweep(t.ms); lastSweep = t.ms }
    }

    public func ingest(_ event: Event, into out: inout [RuleSignal]) {
        advance(to: event.ts, into: &out)
        // Validation sets the reference; an event made by hand is looked up.
        guard let found = event.deviceRef ?? registry.catalog.ref(of: event.device) else { return }
        let ref = found.position
        let keys = deviceKeys[ref]
        withUnsafePointer(to: event) { e in
            let ctx = EvalContext(eventPointer: e, deviceRef: Int32(ref), subjectRef: keys.subjectRef, places: deviceInfo)
            for ri in ruleIndex[event.type.ordinal * deviceTypeCount + Int(keys.typeIndex)] {
                apply(rule: ri, ctx, into: &out)
            }
        }
        // A timer started by a late event may already be due.
        if let c = clock { fireTimers(upTo: c.ms, into: &out) }
    }

    /// Starts loading what `ingest` of an event from the device reads first, its entry in the dense device
    /// array. Call as soon as the device is known: with thousands of devices it is rarely in cache, and
    /// validation and dedup run while it loads. (Prefetching the rules' key buckets too measured no gain.)
    public func prefetch(deviceRef ref: DeviceRef?) {
        guard let ref else { return }
        deviceKeys.withUnsafeBufferPointer { cityeye_prefetch($0.baseAddress! + ref.position) }
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
        seq &+= 1
        timers.push(Timer(due: due, seq: seq, slot: slot, gen: s.gen, rule: UInt16(rule)))
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
        if !t.listens(to: c.event.type) { return nil }
        guard let when = t.when else { return true }
        return when.test(c)
    }

    private func apply(rule ri: Int, _ c: EvalContext, into out: inout [RuleSignal]) {
        // Rules live as long as the engine: no retain and release of the rule for every event.
        unowned(unsafe) let r = rules[ri]
        // A text key is needed to look the key up; a subject is read from the device (rarely in cache) only
        // when a signal names it.
        var text: String?
        if tables[ri].keying == .text {
            guard let t = key(r, c) else { return }
            text = t
        }
        lazy var k: String = text ?? key(r, c)!
        let ts = c.event.ts.ms
        var raise: Bool? = nil
        for i in r.triggers.indices {
            switch test(r.triggers[i], c) {
            case true?: raise = true
            case false?: if raise == nil { raise = false }
            case nil: break
            }
            if raise == true { break }
        }
        // Most events change nothing for most rules: no state, nothing raised.
        let ref = keyRef(ri, device: c.deviceRef, subject: c.subjectRef)
        let existing = tables[ri].lookup(text, ref: ref)
        if raise != true && r.unless == nil && existing == nil { return }
        let slot = existing ?? tables[ri].slot(for: text, ref: ref, device: c.deviceRef)
        // Taken out of the table while it changes, so its window arrays are not copied on write.
        var s = tables[ri].take(slot)
        s.device = c.deviceRef
        let deviceID = DeviceRef(unchecked: c.deviceRef)
        let at = c.event.ts
        func occur(_ t: Instant) { if r.clears { s.open = true }; out.append(.occurrence(rule: r.ref, key: k, device: deviceID, at: t)) }
        func cleared(_ t: Instant) {
            guard s.open else { return }
            s.open = false
            out.append(.cleared(rule: r.ref, key: k, device: deviceID, at: t))
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
                if s.window.contains(where: { $0.t > ts - w && $0.t <= ts }) { raise = false }
            }
            if raise == true { occur(at) }
            if clearHolds { cleared(at) }
            if let (_, w) = r.unless { prune(&s, before: (clock?.ms ?? ts) - w) }

        case .held:
            if raise == true {
                if s.due == nil && !s.fired, let d = duration(r, c.deviceRef) { schedule(ri, slot, &s, at: ts + d) }
            } else if raise == false {
                cancel(&s)
                s.fired = false
            }
            if clearHolds { cleared(at) }

        case .absence:
            if raise == true {
                if s.fired { s.fired = false; cleared(at) }
                let last = max(s.mark ?? ts, ts)
                s.mark = last
                // One pending timer per key: when it comes due it moves itself on to the latest event + D.
                if s.due == nil, let d = duration(r, c.deviceRef) { schedule(ri, slot, &s, at: last + d) }
            }

        case .notFollowed:
            if raise == true, let d = duration(r, c.deviceRef) {
                schedule(ri, slot, &s, at: ts + d)
            }
            if let fb = r.followedBy, test(fb, c) == true {
                cancel(&s)
                if r.clearOnFollow { cleared(at) }
            }
            if clearHolds && !r.clearOnFollow { cleared(at) }

        case .count, .sum, .distinctDays:
            guard let w = duration(r, c.deviceRef) else { break }
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
                for e in s.window where e.t > ts - w && e.t <= ts {
                    switch r.kind {
                    case .count: total += 1
                    case .sum: total += e.v
                    default: days.insert(e.v)
                    }
                }
                if r.kind == .distinctDays { total = Double(days.count) }
                if total >= r.threshold { occur(at) }
            }
            if clearHolds { cleared(at) }

        case .sumBelow:
            if raise == true {
                guard case .number(let x) = r.value!.eval(c) else { break }
                if s.mark == nil { s.mark = ts }
                insert(&s, ts, x)
                keepNewestReaching(r.threshold, &s)
                evaluateSumBelow(ri, slot, k, &s, at: max(clock?.ms ?? ts, ts), into: &out)
            }
        }
        tables[ri].put(slot, s, key: text, ref: ref)
    }

    /// sum_below: the condition (after the warm-up, the window's sum is below the threshold) is evaluated
    /// whenever it can change: at events, at the end of the warm-up, and when an entry leaves the window.
    /// `k`: the key's text, made only if a signal names it.
    private func evaluateSumBelow(_ ri: Int, _ slot: Int32, _ k: @autoclosure () -> String, _ s: inout KeyState, at t: Int64,
                                  into out: inout [RuleSignal]) {
        let r = rules[ri]
        guard let w = r.duration?.fixed, let first = s.mark else { return }
        prune(&s, before: t - w)
        let sum = s.window.reduce(0) { $0 + $1.v }
        let warm = t >= first + (r.afterFirst ?? w)
        if warm && sum < r.threshold && !s.fired {
            s.fired = true
            out.append(.occurrence(rule: r.ref, key: k(), device: DeviceRef(unchecked: s.device), at: Instant(ms: t)))
        } else if sum >= r.threshold && s.fired {
            s.fired = false
            out.append(.cleared(rule: r.ref, key: k(), device: DeviceRef(unchecked: s.device), at: Instant(ms: t)))
        }
        var next: Int64? = s.window.first.map { $0.t + w }
        if !warm { next = min(next ?? .max, first + (r.afterFirst ?? w)) }
        if let next, next > t {
            // A pending earlier check stays: it re-evaluates and moves itself on. Replacing it at every reading
            // would leave the heap full of dead timers.
            if s.due.map({ next < $0 }) ?? true { schedule(ri, slot, &s, at: next) }
        } else {
            cancel(&s)
        }
    }

    private func fire(_ t: Timer, into out: inout [RuleSignal]) {
        let ri = Int(t.rule)
        let r = rules[ri]
        // The key's text only if a signal names it (a device's id or subject is rarely in cache); read from
        // the slot before its state is taken out.
        let text = tables[ri].keepsNames ? tables[ri].names[Int(t.slot)] : nil
        let device = tables[ri].slots[Int(t.slot)].device
        lazy var key = text ?? keyName(ri, device: device)
        let ref = keyRef(ri, t.slot)
        var s = tables[ri].take(t.slot)
        let at = Instant(ms: t.due)
        s.due = nil
        switch r.kind {
        case .absence:
            if let last = s.mark, let d = duration(r, s.device), last + d > t.due {
                schedule(ri, t.slot, &s, at: last + d)
            } else {
                s.fired = true
                s.open = true
                out.append(.occurrence(rule: r.ref, key: key, device: DeviceRef(unchecked: s.device), at: at))
            }
        case .held:
            s.fired = true
            s.open = r.clears
            out.append(.occurrence(rule: r.ref, key: key, device: DeviceRef(unchecked: s.device), at: at))
        case .notFollowed:
            s.open = r.clears
            out.append(.occurrence(rule: r.ref, key: key, device: DeviceRef(unchecked: s.device), at: at))
        case .sumBelow:
            evaluateSumBelow(ri, t.slot, key, &s, at: t.due, into: &out)
        default:
            break
        }
        tables[ri].put(t.slot, s, key: text, ref: ref)
    }

    private func insert(_ s: inout KeyState, _ t: Int64, _ v: Double) {
        var i = s.window.count
        while i > 0 && s.window[i - 1].t > t { i -= 1 }
        s.window.insert(WindowEntry(t: t, v: v), at: i)
    }

    /// sum_below is only ever evaluated at the clock, so of its entries only the newest ones whose sum reaches the
    /// threshold matter: while they are all in the window the sum is not below it, and every older entry leaves
    /// the window before them. Dropping the rest keeps a household's state small however often its meter
    /// reports. Only done while the kept values are ≥ 0 (a negative one could bring the sum back down).
    private func keepNewestReaching(_ threshold: Double, _ s: inout KeyState) {
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

    /// Drops window entries at or before `t` (they have left a window ending now).
    private func prune(_ s: inout KeyState, before t: Int64) {
        var n = 0
        while n < s.window.count && s.window[n].t <= t { n += 1 }
        if n > 0 { s.window.removeFirst(n) }
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
            for slot in tables[ri].used where !tables[ri].slots[Int(slot)].window.isEmpty {
                let text = tables[ri].keepsNames ? tables[ri].names[Int(slot)] : nil
                let ref = keyRef(ri, slot)
                var s = tables[ri].take(slot)
                prune(&s, before: now - w)
                tables[ri].put(slot, s, key: text, ref: ref)
            }
        }
    }

    // MARK: snapshot

    struct Snapshot: Codable, Equatable {
        var clock: Int64?
        var rules: [String: [String: SavedKeyState]]
    }

    static func keying(_ k: KeySpec) -> KeyTable.Keying {
        switch k {
        case .device: return .device
        case .subject: return .subject
        case .data, .deviceData: return .text
        }
    }

    /// The number a device- or subject-keyed table looks the key up by (-1 for text keys).
    @inline(__always) private func keyRef(_ ri: Int, device: Int32, subject: Int32) -> Int32 {
        switch tables[ri].keying {
        case .device: return device
        case .subject: return subject
        case .text: return -1
        }
    }

    private func keyRef(_ ri: Int, device: Int32) -> Int32 {
        device < 0 ? -1 : keyRef(ri, device: device, subject: deviceKeys[Int(device)].subjectRef)
    }

    /// The same, for a used slot (read before the slot's state is taken out).
    private func keyRef(_ ri: Int, _ slot: Int32) -> Int32 {
        let device = tables[ri].slots[Int(slot)].device
        return keyRef(ri, device: device)
    }

    /// The key text of a used slot (read before the slot's state is taken out).
    private func keyName(_ ri: Int, _ slot: Int32) -> String {
        if tables[ri].keepsNames { return tables[ri].names[Int(slot)] }
        return keyName(ri, device: tables[ri].slots[Int(slot)].device)
    }

    /// The key of a device- or subject-keyed rule for a device.
    private func keyName(_ ri: Int, device ref: Int32) -> String {
        let device = deviceInfo[Int(ref)].device
        if case .subject = rules[ri].key { return device.subject }
        return device.id
    }

    /// A rule's duration for a device: a fixed one without reading the device (rarely in cache), else from
    /// its attribute.
    @inline(__always) private func duration(_ r: Rule, _ device: Int32) -> Millis? {
        guard let spec = r.duration else { return nil }
        if let fixed = spec.fixed { return fixed }
        return device >= 0 ? spec.resolve(deviceInfo[Int(device)].device) : nil
    }

    private func deviceID(_ s: KeyState) -> String { s.device >= 0 ? deviceInfo[Int(s.device)].device.id : "" }

    public func snapshot() throws -> [UInt8] {
        Self.encode(savedState())
    }

    /// The state as the snapshot holds it: per rule id, per key.
    func savedState() -> Snapshot {
        var byID: [String: [String: SavedKeyState]] = [:]
        for (i, r) in rules.enumerated() where tables[i].count > 0 {
            let usesMark: (first: Bool, last: Bool) = (r.kind == .sumBelow, r.kind == .absence)
            byID[r.ref.id] = Dictionary(uniqueKeysWithValues: tables[i].used.map { slot in
                let k = tables[i].slots[Int(slot)]
                return (keyName(i, slot), SavedKeyState(device: deviceID(k), due: k.due, gen: k.gen, fired: k.fired, times: k.window.map(\.t),
                                     values: k.window.map(\.v), first: usesMark.first ? k.mark : nil,
                                     last: usesMark.last ? k.mark : nil, open: k.open))
            })
        }
        return Snapshot(clock: clock?.ms, rules: byID)
    }

    /// JSON as `JSONEncoder` with sorted keys writes it (nil fields left out), written directly: the encoder took
    /// ~45 ms for the 5,000 keys of the bench's replays, a fifth of a 100,000-event replay.
    static func encode(_ snap: Snapshot) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        func raw(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        func text(_ s: String) {
            out.append(0x22)
            for c in s.utf8 {
                switch c {
                case 0x22, 0x5C: out.append(0x5C); out.append(c)
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]])
                default: out.append(c)
                }
            }
            out.append(0x22)
        }
        func number(_ v: Int64) { out.append(contentsOf: String(v).utf8) }
        func number(_ d: Double) { out.append(contentsOf: (d.isFinite ? "\(d)" : "0").utf8) }
        raw("{")
        if let clock = snap.clock { raw("\"clock\":"); number(clock); raw(",") }
        raw("\"rules\":{")
        for (n, id) in snap.rules.keys.sorted().enumerated() {
            if n > 0 { raw(",") }
            text(id); raw(":{")
            let keys = snap.rules[id]!
            for (m, key) in keys.keys.sorted().enumerated() {
                let k = keys[key]!
                if m > 0 { raw(",") }
                text(key); raw(":{\"device\":"); text(k.device)
                if let due = k.due { raw(",\"due\":"); number(due) }
                raw(",\"fired\":"); if k.fired { raw("true") } else { raw("false") }
                if let first = k.first { raw(",\"first\":"); number(first) }
                raw(",\"gen\":"); number(Int64(k.gen))
                if let last = k.last { raw(",\"last\":"); number(last) }
                raw(",\"open\":"); if k.open { raw("true") } else { raw("false") }
                raw(",\"times\":[")
                for (j, t) in k.times.enumerated() { if j > 0 { raw(",") }; number(t) }
                raw("],\"values\":[")
                for (j, v) in k.values.enumerated() { if j > 0 { raw(",") }; number(v) }
                raw("]}")
            }
            raw("}")
        }
        raw("}}")
        return out
    }

    /// Restores a snapshot. A key whose device has left the registry is dropped: no incident can name it.
    public func restore(_ bytes: [UInt8]) throws {
        let snap = try JSONDecoder().decode(Snapshot.self, from: Data(bytes))
        clock = snap.clock.map(Instant.init(ms:))
        timers = MinHeap()
        for (i, r) in rules.enumerated() {
            tables[i] = KeyTable(keying: tables[i].keying)
            let saved = snap.rules[r.ref.id] ?? [:]
            for k in saved.keys.sorted() {
                guard let v = saved[k], let device = registry.catalog.ref(of: v.device)?.index else { continue }
                let ref = keyRef(i, device: device)
                let slot = tables[i].slot(for: k, ref: ref, device: device)
                var s = tables[i].slots[Int(slot)]
                s.fired = v.fired
                s.open = v.open
                s.mark = v.first ?? v.last
                s.window = zip(v.times, v.values).map { WindowEntry(t: $0, v: $1) }
                if let due = v.due { schedule(i, slot, &s, at: due) }
                tables[i].put(slot, s, key: k, ref: ref)
            }
        }
    }
}

