import Model

/// What to save of the rule state after a batch: the keys written and removed since the last save, or (`replaceAll`)
/// every key. Saving by key costs what the batch changed, not what the engine holds: a city's engine keeps millions
/// of keys and a batch touches a few thousand.
public struct RuleStateChanges: Sendable {
    public var clock: Instant?
    public var replaceAll = false
    public var removed: [(rule: String, key: String)] = []
    public var written: [SavedRuleKey] = []
    public var isEmpty: Bool { !replaceAll && removed.isEmpty && written.isEmpty }
}

extension RuleEngine {
    /// Whether the engine keeps track of the keys each batch changes (`takeStateChanges()`). Off by default: a
    /// rule engine whose state nobody saves (a rules check, a benchmark of rules alone) would pile the list up.
    public var tracksStateChanges: Bool {
        get { tables.first?.tracksChanges ?? false }
        set { for i in tables.indices { tables[i].tracksChanges = newValue } }
    }

    /// The keys changed since the last call; removals first, then writes, in that order of application.
    public func takeStateChanges() -> RuleStateChanges {
        var out = RuleStateChanges(clock: clock)
        for (i, r) in rules.enumerated() {
            let changed = tables[i].takeChanges()
            for name in changed.removedNames { out.removed.append((r.ref.id, name)) }
            for device in changed.removedDevices { out.removed.append((r.ref.id, devices.keyName(r.key, device: device))) }
            for slot in changed.written where !tables[i].slots[Int(slot)].isIdle {
                out.written.append(savedKey(i, slot))
            }
        }
        return out
    }

    /// Every key, to replace what the store holds (a store whose state was saved whole by an earlier version).
    public func allState() -> RuleStateChanges {
        var out = RuleStateChanges(clock: clock, replaceAll: true)
        for i in rules.indices {
            _ = tables[i].takeChanges()
            for slot in tables[i].used { out.written.append(savedKey(i, slot)) }
        }
        return out
    }

    /// Restores the state saved by key. Keys of rules no longer loaded, and of devices that left the registry, are
    /// dropped (they are returned so the store can forget them too).
    @discardableResult
    public func restore(clock saved: Instant?, keys: [SavedRuleKey]) throws -> [(rule: String, key: String)] {
        var byRule: [String: [(String, SavedKeyState)]] = [:]
        for k in keys {
            guard let state = SavedKeyState(bytes: k.state) else { throw RuleStateError.unreadableKey(rule: k.rule, key: k.key) }
            byRule[k.rule, default: []].append((k.key, state))
        }
        let known = Set(rules.map(\.ref.id))
        var dropped: [(rule: String, key: String)] = []
        for (rule, ks) in byRule where !known.contains(rule) { dropped += ks.map { (rule, $0.0) } }
        dropped += restore(clock: saved, byRule: byRule)
        return dropped
    }

    func savedKey(_ ri: Int, _ slot: Int32) -> SavedRuleKey {
        SavedRuleKey(rule: rules[ri].ref.id, key: keyName(ri, slot), state: savedState(ri, slot).bytes)
    }
}

public enum RuleStateError: Error, CustomStringConvertible {
    case unreadableKey(rule: String, key: String)
    public var description: String {
        switch self {
        case .unreadableKey(let rule, let key): return "the saved state of rule \(rule), key \(key) is unreadable"
        }
    }
}

/// A key's state in a few bytes: version, flags, generation, the optional times, the device id and the window.
extension SavedKeyState {
    private static let version: UInt8 = 1
    private enum Flag { static let fired: UInt8 = 1, open: UInt8 = 2, due: UInt8 = 4, first: UInt8 = 8, last: UInt8 = 16 }

    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + device.utf8.count + times.count * 16)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        var flags: UInt8 = 0
        if fired { flags |= Flag.fired }
        if open { flags |= Flag.open }
        if due != nil { flags |= Flag.due }
        if first != nil { flags |= Flag.first }
        if last != nil { flags |= Flag.last }
        out.append(Self.version)
        out.append(flags)
        put(gen)
        for v in [due, first, last] { if let v { put(v) } }
        put(UInt32(device.utf8.count))
        out.append(contentsOf: device.utf8)
        put(UInt32(times.count))
        for (t, v) in zip(times, values) { put(t); put(v.bitPattern) }
        return out
    }

    init?(bytes: [UInt8]) {
        var at = 0
        func take<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard at + MemoryLayout<T>.size <= bytes.count else { return nil }
            var v = T.zero
            withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: bytes[at..<(at + MemoryLayout<T>.size)]) }
            at += MemoryLayout<T>.size
            return T(littleEndian: v)
        }
        guard bytes.count >= 2, bytes[0] == Self.version else { return nil }
        let flags = bytes[1]
        at = 2
        guard let gen = take(UInt32.self) else { return nil }
        func optional(_ flag: UInt8) -> Int64?? {
            if flags & flag == 0 { return .some(nil) }
            guard let v = take(Int64.self) else { return nil }
            return .some(v)
        }
        guard let due = optional(Flag.due), let first = optional(Flag.first), let last = optional(Flag.last),
              let length = take(UInt32.self), at + Int(length) <= bytes.count else { return nil }
        let device = String(decoding: bytes[at..<(at + Int(length))], as: UTF8.self)
        at += Int(length)
        guard let n = take(UInt32.self), Int(n) <= (bytes.count - at) / 16 else { return nil }
        var times: [Int64] = [], values: [Double] = []
        times.reserveCapacity(Int(n)); values.reserveCapacity(Int(n))
        for _ in 0..<n {
            guard let t = take(Int64.self), let v = take(UInt64.self) else { return nil }
            times.append(t); values.append(Double(bitPattern: v))
        }
        guard at == bytes.count else { return nil }
        self.init(device: device, due: due, gen: gen, fired: flags & Flag.fired != 0, times: times, values: values,
                  first: first, last: last, open: flags & Flag.open != 0)
    }
}
