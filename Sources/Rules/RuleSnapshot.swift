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
        for (i, r) in rules.enumerated() where tables[i].count > 0 {
            var usesMark: (first: Bool, last: Bool) = (false, false)
            switch r.kind {
            case .sumBelow: usesMark.first = true
            case .absence: usesMark.last = true
            default: break
            }
            byID[r.ref.id] = Dictionary(uniqueKeysWithValues: tables[i].used.map { slot in
                let k = tables[i].slots[Int(slot)]
                return (keyName(i, slot), SavedKeyState(device: devices.id(of: k.device), due: k.due, gen: k.gen, fired: k.fired,
                                                        times: k.window.map(\.t), values: k.window.map(\.v),
                                                        first: usesMark.first ? k.mark : nil,
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
        clock = snap.clock.map(Instant.init(ms:))
        timers = TimerQueue()
        for (i, r) in rules.enumerated() {
            tables[i] = KeyTable(keying: tables[i].keying)
            let saved = snap.rules[r.ref.id] ?? [:]
            for k in saved.keys.sorted() {
                guard let v = saved[k], let device = devices.ref(ofID: v.device) else { continue }
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
        }
    }
}
