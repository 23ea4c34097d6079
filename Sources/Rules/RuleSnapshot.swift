import Foundation
import Model

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

extension RuleEngine {
    struct Snapshot: Codable, Equatable {
        var clock: Int64?
        var rules: [String: [String: SavedKeyState]]
    }

    public func snapshot() throws -> [UInt8] {
        Self.encode(savedState())
    }

    /// The state as the snapshot holds it: per rule id, per key. A key's mark is saved as `first` (sum_below's
    /// first reading) or `last` (absence's latest event).
    func savedState() -> Snapshot {
        var byID: [String: [String: SavedKeyState]] = [:]
        for i in rules.indices where tables[i].count > 0 {
            byID[rules[i].ref.id] = Dictionary(uniqueKeysWithValues: tables[i].used.map { (keyName(i, $0), savedState(i, $0)) })
        }
        return Snapshot(clock: clock?.ms, rules: byID)
    }

    /// A used slot's state as saved. Its mark is saved as `first` (sum_below's first reading) or `last` (absence's
    /// latest event).
    func savedState(_ ri: Int, _ slot: Int32) -> SavedKeyState {
        var usesMark: (first: Bool, last: Bool) = (false, false)
        switch rules[ri].kind {
        case .sumBelow: usesMark.first = true
        case .absence: usesMark.last = true
        default: break
        }
        let k = tables[ri].slots[Int(slot)]
        return SavedKeyState(device: devices.id(of: k.device), due: k.due, gen: k.gen, fired: k.fired,
                             times: k.window.map(\.t), values: k.window.map(\.v),
                             first: usesMark.first ? k.mark : nil, last: usesMark.last ? k.mark : nil, open: k.open)
    }

    /// JSON as `JSONEncoder` with sorted keys writes it (nil fields left out), written directly: the encoder took
    /// ~45 ms for the 5,000 keys of the bench's replays, a fifth of a 100,000-event replay.
    static func encode(_ snap: Snapshot) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        func raw(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        func text(_ s: String) { JSONText.appendQuoted(s, to: &out) }
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
        _ = restore(clock: snap.clock.map(Instant.init(ms:)), byRule: snap.rules.mapValues { $0.map { ($0.key, $0.value) } })
    }

    /// Replaces the state with the saved keys (in key order, so that timers due at the same time fire in the same
    /// order after every restore). Returns the keys dropped because their device left the registry.
    func restore(clock saved: Instant?, byRule: [String: [(String, SavedKeyState)]]) -> [(rule: String, key: String)] {
        clock = saved
        timers = TimerQueue()
        var dropped: [(rule: String, key: String)] = []
        for (i, r) in rules.enumerated() {
            let tracks = tables[i].tracksChanges
            tables[i] = KeyTable(keying: tables[i].keying)
            for (k, v) in (byRule[r.ref.id] ?? []).sorted(by: { $0.0 < $1.0 }) {
                guard let device = devices.ref(ofID: v.device) else { dropped.append((r.ref.id, k)); continue }
                let ref = keyRef(i, device: device)
                let slot = tables[i].slot(for: k, ref: ref, device: device)
                var s = tables[i].slots[Int(slot)]
                s.fired = v.fired
                s.open = v.open
                s.mark = v.first ?? v.last
                s.window = zip(v.times, v.values).map { WindowEntry(t: $0, v: $1) }
                if let due = v.due { timers.schedule(rule: i, slot: slot, &s, at: due) }
                tables[i].put(slot, s, key: k, ref: ref)
            }
            tables[i].tracksChanges = tracks
        }
        return dropped
    }
}
