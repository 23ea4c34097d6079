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

    /// Drops the pending timer: the new generation no longer matches it.
    mutating func cancelTimer() { gen &+= 1; due = nil }

    /// Adds a window entry in time order.
    mutating func insert(_ t: Int64, _ v: Double) {
        var i = window.count
        while i > 0 && window[i - 1].t > t { i -= 1 }
        window.insert(WindowEntry(t: t, v: v), at: i)
    }

    /// Drops window entries at or before `t` (they have left a window ending now).
    mutating func prune(before t: Int64) {
        var n = 0
        while n < window.count && window[n].t <= t { n += 1 }
        if n > 0 { window.removeFirst(n) }
    }
}

/// The keys of one rule: each key's state in a slot, slots reused when a key goes idle. Timers and look-ups use
/// the slot number, so a key is looked up once per event and never copied around. A key that is the device's id or
/// subject is looked up by the device's (subject's) number and not stored: it is read from the slot's device.
struct KeyTable {
    enum Keying {
        case text, device, subject

        init(_ k: KeySpec) {
            switch k {
            case .device: self = .device
            case .subject: self = .subject
            case .data, .deviceData: self = .text
            }
        }
    }
    let keying: Keying
    var index: [String: Int32] = [:]
    var refs = RefIndex()
    var names: [String] = []
    var slots: [KeyState] = []
    /// Free slots form a list through their `device` field.
    var freeHead: Int32 = -1
    /// What changed since `takeChanges()`, kept only when `tracksChanges` (the pipeline saves rule state by key).
    var changes = KeyChanges()
    var tracksChanges = false

    init(keying: Keying) { self.keying = keying }

    var keepsNames: Bool { keying == .text }
    var count: Int { keying == .text ? index.count : refs.count }
    /// The slots in use.
    var used: [Int32] { keying == .text ? Array(index.values) : refs.entries.map(\.slot) }

    /// The number a device- or subject-keyed table looks a key up by (-1 for text keys).
    @inline(__always) func ref(device: Int32, subject: Int32) -> Int32 {
        switch keying {
        case .device: return device
        case .subject: return subject
        case .text: return -1
        }
    }

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
        if tracksChanges { changes.note(i, s, key: keepsNames ? key : nil) }
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

    /// The changes since the last call; tracking starts afresh.
    mutating func takeChanges() -> ChangedKeys { changes.take() }

    /// What the table has allocated: slots, names, and the index's buckets (key, slot, 1 bit); and the window
    /// entries it holds.
    var usage: (entries: Int, bytes: Int) {
        var n = slots.capacity * MemoryLayout<KeyState>.stride + names.capacity * 16
            + index.capacity * (16 + 4) + index.capacity / 8 + refs.bytes
        var entries = 0
        for (k, _) in index where k.utf8.count > 15 { n += k.utf8.count * 2 }
        for i in used {
            let v = slots[Int(i)]
            entries += v.window.count
            n += v.window.isEmpty ? 0 : 32 + v.window.capacity * MemoryLayout<WindowEntry>.stride
        }
        return (entries, n)
    }
}


/// The keys of one table written or removed since the state was last saved. A slot is listed once however often it
/// changed; whether it still holds a key is read when the changes are saved. A removed key is listed by its name
/// (text keys) or by a device of it (device and subject keys), since its slot may hold another key by then.
struct ChangedKeys {
    var written: [Int32] = []
    var removedNames: [String] = []
    var removedDevices: [Int32] = []
}

struct KeyChanges {
    private var taken = ChangedKeys()
    private var isWritten: [Bool] = []

    mutating func note(_ slot: Int32, _ s: KeyState, key: String?) {
        if s.isIdle {
            if let key { taken.removedNames.append(key) } else { taken.removedDevices.append(s.device) }
            return
        }
        let i = Int(slot)
        if i >= isWritten.count { isWritten.append(contentsOf: repeatElement(false, count: i + 1 - isWritten.count)) }
        if !isWritten[i] {
            isWritten[i] = true
            taken.written.append(slot)
        }
    }

    mutating func take() -> ChangedKeys {
        for i in taken.written { isWritten[Int(i)] = false }
        defer { taken = ChangedKeys() }
        return taken
    }
}
