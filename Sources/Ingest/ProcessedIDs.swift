import Model
import CPrefetch
#if canImport(Glibc)
import Glibc
#endif

/// The (device, id) pairs already processed, so that an at-least-once redelivery is counted as a duplicate and
/// not evaluated again. Kept as hashes (no strings), each with the hour it was seen, for pruning.
public struct ProcessedIDs {
    public struct Key: Hashable, Sendable {
        var a: UInt64
        var b: UInt64
    }
    /// Open addressing with linear probing (no per-entry allocation, no hashing beyond the key's own): `a == 0`
    /// marks an empty slot, so keys never have `a == 0`. At most half full.
    /// 16 bytes: the key's `a` and the low 32 bits of its `b` (96 bits: with ten million pairs kept, the chance
    /// that two ever share them is about 10⁻¹⁵), and the hour it was seen. The store keeps the same 96 bits.
    struct Slot {
        var a: UInt64
        var b: UInt32
        var hour: Int32
    }
    /// One array of slots: a probe touches one cache line, not three.
    private var slots: [Slot]
    private var mask: Int
    /// How many pairs were seen in each hour, so that pruning knows what would go without a scan.
    private var perHour: [Int32: Int] = [:]
    public private(set) var count = 0
    /// Keys inserted since the store last took them, `keyBytes` each.
    private var pending: [UInt8] = []

    public init() { self.init(capacity: 1 << 16) }

    init(capacity: Int) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = Array(unsafeUninitializedCapacity: n) { buffer, initialized in
            Self.adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            buffer.initialize(repeating: Slot(a: 0, b: 0, hour: 0))
            initialized = n
        }
        mask = n - 1
    }

    /// Makes room for `n` pairs at once (a replay knows roughly how many lines it will read): growing a table of
    /// millions step by step re-inserts every pair several times.
    public mutating func reserve(_ n: Int) {
        if n * 2 > slots.count { rebuild(capacity: n * 2) { _ in true } }
    }

    /// False if the pair was already processed.
    public mutating func insert(device: String, id: String, at: Instant) -> Bool {
        insert(Self.key(device: device, id: id), at: at)
    }

    /// How `key(device:id:)` makes keys; the store records it beside every batch of keys, so that a later change
    /// of the hash can tell old batches apart (format 1 was never released).
    public static let keyFormat = 2

    /// The key of a pair, to `prefetch` early and `insert` later: two 64-bit hashes of the device id and the id
    /// (each id's length is mixed in, so ("ab", "c") and ("a", "bc") differ).
    public static func key(device: String, id: String) -> Key {
        var d = device, s = id
        let (d1, d2) = d.withUTF8 { u in
            let p = UnsafeRawBufferPointer(u)
            return (ByteHash.hash(p, seed: 0x243F_6A88_85A3_08D3), ByteHash.hash(p, seed: 0x1319_8A2E_0370_7344))
        }
        let (a, b) = s.withUTF8 { u in
            let p = UnsafeRawBufferPointer(u)
            return (ByteHash.hash(p, seed: d1), fmix(ByteHash.hash(p, seed: d2) ^ 0x5851_F42D_4C95_7F2D))
        }
        return Key(a: a == 0 ? 1 : a, b: b)
    }

    func contains(_ k: Key) -> Bool { probe(k).found }

    /// Where `k` is, or the empty slot where it would go.
    private func probe(_ k: Key) -> (index: Int, found: Bool) {
        var i = Int(truncatingIfNeeded: k.a) & mask
        while true {
            let s = slots[i]
            if s.a == 0 { return (i, false) }
            if s.a == k.a && s.b == UInt32(truncatingIfNeeded: k.b) { return (i, true) }
            i = (i + 1) & mask
        }
    }

    /// Starts loading the slot where `k` would go: the table is far bigger than the caches, and an insert that
    /// waits for memory costs more than the rest of a small event's work.
    public func prefetch(_ k: Key) {
        slots.withUnsafeBufferPointer { cityeye_prefetch($0.baseAddress! + (Int(truncatingIfNeeded: k.a) & mask)) }
    }

    /// False if the pair whose key this is was already processed.
    public mutating func insert(_ k: Key, at: Instant) -> Bool {
        guard put(k, hour: Int32(clamping: at.ms / Durations.hour)) else { return false }
        withUnsafeBytes(of: k.a.littleEndian) { pending.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: k.b).littleEndian) { pending.append(contentsOf: $0) }
        return true
    }

    /// False if `k` was there already.
    private mutating func put(_ k: Key, hour: Int32) -> Bool {
        if (count + 1) * 2 > slots.count { grow(to: slots.count * 2) }
        let (i, found) = probe(k)
        if found { return false }
        slots[i] = Slot(a: k.a, b: UInt32(truncatingIfNeeded: k.b), hour: hour)
        count += 1
        perHour[hour, default: 0] += 1
        return true
    }

    private mutating func grow(to n: Int) {
        rebuild(capacity: n) { _ in true }
    }

    private mutating func rebuild(capacity: Int, keep: (Int32) -> Bool) {
        let (old, kept) = (slots, pending)
        self = ProcessedIDs(capacity: capacity / 2)
        for s in old where s.a != 0 && keep(s.hour) {
            _ = put(Key(a: s.a, b: UInt64(s.b)), hour: s.hour)
        }
        pending = kept
    }

    /// Bytes a key takes in the store: `a` and the low 32 bits of `b`, little-endian (all that the table compares).
    public static let keyBytes = 12

    /// Keys inserted since the last call, `keyBytes` each, for the store.
    public mutating func takePending() -> [UInt8] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }

    /// Loads keys the store holds (key format 2), all as seen at `at`.
    public mutating func load(_ keys: [UInt8], at: Instant) {
        let n = Self.keyBytes
        let hour = Int32(clamping: at.ms / Durations.hour)
        keys.withUnsafeBytes { p in
            var i = 0
            while i + n <= p.count {
                let a = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let b = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i + 8, as: UInt32.self)))
                _ = put(Key(a: a == 0 ? 1 : a, b: b), hour: hour)
                i += n
            }
        }
    }

    /// Takes in the pairs of `other` (with the hours they were seen), keeping this table's pending keys. The larger
    /// of the two tables takes the smaller's pairs: the dedup window's older keys, loaded aside, are most of them.
    public mutating func absorb(_ other: consuming ProcessedIDs) {
        var big = other
        var small = self
        if small.count > big.count { swap(&big, &small) }
        big.reserve(big.count + small.count)
        for s in small.slots where s.a != 0 { _ = big.put(Key(a: s.a, b: UInt64(s.b)), hour: s.hour) }
        big.pending = pending
        self = big
    }

    /// Forgets pairs seen before `before`. The table is rebuilt only once an eighth of it has expired: keeping a
    /// pair a little longer than asked is harmless, rebuilding a million entries every hour is not.
    public mutating func prune(before: Instant) {
        let hour = Int32(clamping: before.ms / Durations.hour)
        let expired = perHour.reduce(0) { $0 + ($1.key < hour ? $1.value : 0) }
        guard expired > 0, expired * 8 >= count else { return }
        rebuild(capacity: max(1 << 16, (count - expired) * 2)) { $0 >= hour }
    }

    /// Every insert lands on a random slot of a table of tens of MB: with 4 KiB pages nearly each one also misses
    /// the TLB. Asks for 2 MiB pages (transparent huge pages, where the kernel offers them) before the table is touched.
    static func adviseHugePages(_ b: UnsafeMutableRawBufferPointer) {
        let huge = 2 << 20
        guard b.count >= 2 * huge, let base = b.baseAddress else { return }
        let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: base) + b.count) & ~(huge - 1)
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
    }

    @inline(__always) static func fmix(_ x: UInt64) -> UInt64 {
        var k = x
        k ^= k >> 33; k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33; k = k &* 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}
