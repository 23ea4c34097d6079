import Model

/// The (device, id) pairs already processed, so that an at-least-once redelivery is counted as a duplicate and
/// not evaluated again. Kept as 128-bit hashes (no strings), each with the hour it was seen, for pruning.
public struct ProcessedIDs {
    struct Key: Hashable {
        var a: UInt64
        var b: UInt64
        /// `a` is already a well-mixed hash; feeding one word keeps the hasher's work small.
        func hash(into h: inout Hasher) { h.combine(a) }
    }
    private var seen: [Key: Int32] = [:]
    private var pending: [UInt64] = []

    public init() { seen.reserveCapacity(1 << 16) }

    public var count: Int { seen.count }

    /// False if the pair was already processed.
    public mutating func insert(device: String, id: String, at: Instant) -> Bool {
        let k = Self.key(device: device, id: id)
        let hour = Int32(clamping: at.ms / Durations.hour)
        if seen[k] != nil { return false }
        seen[k] = hour
        pending.append(k.a)
        pending.append(k.b)
        return true
    }

    /// Keys inserted since the last call, two UInt64 per key, for the store.
    public mutating func takePending() -> [UInt64] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }

    public mutating func load(_ keys: [UInt64], at: Instant) {
        let hour = Int32(clamping: at.ms / Durations.hour)
        seen.reserveCapacity(seen.count + keys.count / 2)
        var i = 0
        while i + 1 < keys.count {
            seen[Key(a: keys[i], b: keys[i + 1])] = hour
            i += 2
        }
    }

    public mutating func prune(before: Instant) {
        let hour = Int32(clamping: before.ms / Durations.hour)
        seen = seen.filter { $0.value >= hour }
    }

    static func key(device: String, id: String) -> Key {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x9e37_79b9_7f4a_7c15
        @inline(__always) func mix(_ byte: UInt8) {
            h1 = (h1 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ UInt64(byte)) &* 0xff51_afd7_ed55_8ccd
            h2 ^= h2 >> 29
        }
        var d = device, s = id
        d.withUTF8 { for c in $0 { mix(c) } }
        mix(0)
        s.withUTF8 { for c in $0 { mix(c) } }
        return Key(a: fmix(h1), b: fmix(h2 ^ 0x5851_f42d_4c95_7f2d))
    }

    @inline(__always) static func fmix(_ x: UInt64) -> UInt64 {
        var k = x
        k ^= k >> 33; k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33; k = k &* 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}
