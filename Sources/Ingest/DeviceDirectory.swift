import Model
import CPrefetch
#if canImport(Glibc)
import Glibc
#endif

/// The registry's device ids, found from a message's bytes (the decoder finds a device's position in
/// `Registry.deviceTable` while it scans), with what validation needs of each device. With events from thousands
/// of devices, a device's String and struct are rarely in cache: a look-up here reads one 64-byte slot that holds
/// the id's bytes.
/// Immutable once made (hence `@unchecked Sendable`: the slots are raw memory that nothing writes after `init`).
public final class DeviceDirectory: @unchecked Sendable {
    /// `Registry.deviceTable`'s ids.
    public let ids: [String]
    /// Each device's community, as a position in `communities`.
    let community: [UInt16]
    let communities: [String]
    /// Open addressing, at most 3/4 full, one cache line a slot: hash tag (4 bytes), position (4, -1: empty),
    /// id length (2, at most 65,535), then the id's first `inlineBytes` bytes. A longer id is compared with `ids`.
    private let slots: UnsafeMutableRawPointer
    private let mask: Int
    private static let slotBytes = 64, inlineBytes = 54

    public init(registry: Registry) {
        let ids = registry.deviceTable.map(\.id)
        self.ids = ids
        let communities = Array(Set(registry.deviceTable.map(\.community))).sorted()
        let byName = Dictionary(uniqueKeysWithValues: communities.enumerated().map { ($1, UInt16($0)) })
        self.communities = communities
        community = registry.deviceTable.map { byName[$0.community]! }
        var n = 16
        while n * 3 < ids.count * 4 { n <<= 1 }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, Self.slotBytes, n * Self.slotBytes) == 0, let memory else {
            fatalError("out of memory for the device directory (\(n) slots)")
        }
        memset(memory, 0, n * Self.slotBytes)
        for i in 0..<n { memory.storeBytes(of: -1 as Int32, toByteOffset: i * Self.slotBytes + 4, as: Int32.self) }
        for (r, id) in ids.enumerated() {
            var id = id
            id.withUTF8 { u in
                let h = ByteHash.hash(UnsafeRawBufferPointer(u))
                var i = Int(truncatingIfNeeded: h) & (n - 1)
                while memory.load(fromByteOffset: i * Self.slotBytes + 4, as: Int32.self) >= 0 { i = (i + 1) & (n - 1) }
                let slot = memory + i * Self.slotBytes
                slot.storeBytes(of: UInt32(truncatingIfNeeded: h), as: UInt32.self)
                slot.storeBytes(of: Int32(r), toByteOffset: 4, as: Int32.self)
                slot.storeBytes(of: UInt16(clamping: u.count), toByteOffset: 8, as: UInt16.self)
                if u.count > 0 { memcpy(slot + 10, u.baseAddress!, min(u.count, Self.inlineBytes)) }
            }
        }
        slots = memory
        mask = n - 1
    }

    deinit { free(slots) }

    /// Starts loading the slot where this id would be (a look-up soon after does not wait for memory).
    public func prefetch(_ id: UnsafeRawBufferPointer) {
        cityeye_prefetch(slots + (Int(truncatingIfNeeded: ByteHash.hash(id)) & mask) * Self.slotBytes)
    }

    /// The position of the device whose id is these UTF-8 bytes, if it is registered.
    public func ref(of id: UnsafeRawBufferPointer) -> Int32? {
        let h = ByteHash.hash(id)
        let tag = UInt32(truncatingIfNeeded: h)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots + i * Self.slotBytes
            let ref = slot.load(fromByteOffset: 4, as: Int32.self)
            if ref < 0 { return nil }
            if slot.load(as: UInt32.self) == tag && slot.load(fromByteOffset: 8, as: UInt16.self) == UInt16(clamping: id.count)
                && equal(ref, slot, id) {
                return ref
            }
            i = (i + 1) & mask
        }
    }

    private func equal(_ ref: Int32, _ slot: UnsafeMutableRawPointer, _ id: UnsafeRawBufferPointer) -> Bool {
        if id.isEmpty { return true }
        if id.count <= Self.inlineBytes { return memcmp(slot + 10, id.baseAddress!, id.count) == 0 }
        var stored = ids[Int(ref)]
        return stored.withUTF8 { $0.count == id.count && memcmp($0.baseAddress!, id.baseAddress!, id.count) == 0 }
    }

    public func ref(of id: String) -> Int32? {
        var id = id
        return id.withUTF8 { ref(of: UnsafeRawBufferPointer($0)) }
    }

    /// The community of the device at `ref` if `topic` is its usual topic `cityeye/{community}/{device}`
    /// (`device`: its id, as the message gave it).
    /// Compared whole, as one string: cheaper than `TopicPath`, which finds any prefix (this runs for every line).
    func usualTopic(_ topic: UnsafeRawBufferPointer, of ref: Int32, device: String) -> String? {
        let community = community(of: ref)
        var c = community, d = device
        let usual = c.withUTF8 { cb in
            d.withUTF8 { db in
                let prefix = 8  // "cityeye/"
                guard topic.count == prefix + cb.count + 1 + db.count, !cb.isEmpty, !db.isEmpty,
                      let t = topic.baseAddress else { return false }
                return memcmp(t, "cityeye/", prefix) == 0 && memcmp(t + prefix, cb.baseAddress!, cb.count) == 0
                    && t.load(fromByteOffset: prefix + cb.count, as: UInt8.self) == 0x2F
                    && memcmp(t + prefix + cb.count + 1, db.baseAddress!, db.count) == 0
            }
        }
        return usual ? community : nil
    }

    /// The community of a device, by position.
    func community(of ref: Int32) -> String { communities[Int(community[Int(ref)])] }
}
