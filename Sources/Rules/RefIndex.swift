/// A map from a non-negative Int32 (a device's or subject's number) to a slot number: open addressing with
/// linear probing, 8 bytes a bucket, at most 3/4 full. Rules keyed by device or subject look keys up by number,
/// so the event's device id is never hashed or compared as text.
struct RefIndex {
    private struct Bucket {
        var ref: Int32
        var slot: Int32
    }
    private static let empty: Int32 = -1
    private var buckets: [Bucket] = []
    private var mask = -1
    private(set) var count = 0

    var capacity: Int { buckets.count }
    var bytes: Int { buckets.capacity * MemoryLayout<Bucket>.stride }

    @inline(__always) private func home(_ ref: Int32) -> Int {
        // Fibonacci hashing: consecutive numbers spread over the table.
        Int(truncatingIfNeeded: (UInt64(UInt32(bitPattern: ref)) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    subscript(ref: Int32) -> Int32? {
        guard count > 0 else { return nil }
        var i = home(ref)
        while true {
            let b = buckets[i]
            if b.ref == ref { return b.slot }
            if b.ref == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }

    mutating func set(_ ref: Int32, _ slot: Int32) {
        precondition(ref >= 0, "RefIndex keys are non-negative")
        if (count + 1) * 4 > buckets.count * 3 { grow() }
        var i = home(ref)
        while buckets[i].ref != Self.empty && buckets[i].ref != ref { i = (i + 1) & mask }
        if buckets[i].ref == Self.empty { count += 1 }
        buckets[i] = Bucket(ref: ref, slot: slot)
    }

    /// Removes `ref`, shifting back the entries after it so that no look-up stops early at the hole.
    mutating func remove(_ ref: Int32) {
        guard count > 0 else { return }
        var i = home(ref)
        while buckets[i].ref != ref {
            if buckets[i].ref == Self.empty { return }
            i = (i + 1) & mask
        }
        count -= 1
        var hole = i
        var j = (i + 1) & mask
        while buckets[j].ref != Self.empty {
            let h = home(buckets[j].ref)
            // Move j into the hole if its home is not within (hole, j], cyclically.
            let stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !stays {
                buckets[hole] = buckets[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        buckets[hole] = Bucket(ref: Self.empty, slot: 0)
    }

    /// Every (ref, slot), in table order.
    var entries: [(ref: Int32, slot: Int32)] {
        buckets.compactMap { $0.ref == Self.empty ? nil : ($0.ref, $0.slot) }
    }

    private mutating func grow() {
        let old = buckets
        let n = max(16, buckets.count * 2)
        buckets = Array(repeating: Bucket(ref: Self.empty, slot: 0), count: n)
        mask = n - 1
        count = 0
        for b in old where b.ref != Self.empty { set(b.ref, b.slot) }
    }
}
