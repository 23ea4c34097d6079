import CPrefetch
#if canImport(Glibc)
import Glibc
#endif

/// A registered device's place in its deployment's `DeviceCatalog`. Events, rule signals and the incident desk
/// carry it instead of the id, so later stages index arrays instead of hashing the id again. Only meaningful for
/// the catalog that gave it out.
public struct DeviceRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int32
    /// For compact state that keeps only `index` (the rule engine's key slots): the index must have come from a
    /// `DeviceRef` of the same catalog.
    @inlinable public init(unchecked index: Int32) { self.index = index }
    @inlinable public var position: Int { Int(index) }
    public static func < (a: DeviceRef, b: DeviceRef) -> Bool { a.index < b.index }
    public var description: String { "device #\(index)" }
}

/// The deployment's devices (docs/contract.md §4), the one place device identity is worked out: look-up by id (as a String or
/// as the bytes of a message, without making a String), and each device's community, grid, subject, type and
/// local clock by `DeviceRef`. Immutable once made (hence `@unchecked Sendable`: the slot table is raw memory that
/// nothing writes after `init`).
public final class DeviceCatalog: @unchecked Sendable {
    /// The devices in id order; `DeviceRef.index` is the position here.
    public let devices: [Device]
    /// The communities' ids, sorted; a device's community is a position here.
    public let communityIDs: [String]
    /// Each community's clock, by the same position.
    public let clocks: [LocalClock]
    /// The device types present, sorted; a device's type is a position here.
    public let types: [String]
    /// The subjects, numbered in device order; a device's subject is a position here.
    public let subjectCount: Int

    /// What every event needs of its device, 8 bytes a device in one dense array (with thousands of devices, the
    /// `Device` itself is rarely in cache).
    @usableFromInline struct Entry {
        @usableFromInline var community: UInt16
        @usableFromInline var type: UInt16
        @usableFromInline var subject: Int32
    }
    // Read on every event from other modules: inlinable there (a call into Model per look-up showed in profiles).
    @usableFromInline let entries: [Entry]
    @usableFromInline let table: SlotTable

    public convenience init(devices: [Device], communities: [Community]) {
        self.init(sortedDevices: devices.sorted { $0.id < $1.id }, communities: communities)
    }

    init(sortedDevices devices: [Device], communities: [Community]) {
        self.devices = devices
        var zones = Dictionary(communities.map { ($0.id, $0.timezone) }, uniquingKeysWith: { a, _ in a })
        for d in devices where zones[d.community] == nil { zones[d.community] = Community.defaultTimezone }
        communityIDs = zones.keys.sorted()
        clocks = communityIDs.map { LocalClock.of(zones[$0]!) }
        types = Array(Set(devices.map(\.type))).sorted()
        let communityAt = Dictionary(uniqueKeysWithValues: communityIDs.enumerated().map { ($1, UInt16(clamping: $0)) })
        let typeAt = Dictionary(uniqueKeysWithValues: types.enumerated().map { ($1, UInt16(clamping: $0)) })
        var subjects: [String: Int32] = [:]
        entries = devices.map { d in
            let s = subjects[d.subject] ?? Int32(subjects.count)
            subjects[d.subject] = s
            return Entry(community: communityAt[d.community]!, type: typeAt[d.type]!, subject: s)
        }
        subjectCount = subjects.count
        table = SlotTable(ids: devices.map(\.id))
    }

    deinit { table.release() }

    public var count: Int { devices.count }
    public var refs: [DeviceRef] { (0..<Int32(devices.count)).map { DeviceRef(unchecked: $0) } }
    /// By `DeviceRef` position: whether the device is one of `ids`.
    public func marks(_ ids: Set<String>) -> [Bool] { devices.map { ids.contains($0.id) } }

    // MARK: look-up

    /// The device whose id is these UTF-8 bytes, if it is registered.
    @inlinable public func ref(of id: UnsafeRawBufferPointer) -> DeviceRef? {
        table.find(id, longIDs: self).map { DeviceRef(unchecked: $0) }
    }

    public func ref(of id: String) -> DeviceRef? {
        var id = id
        return id.withUTF8 { ref(of: UnsafeRawBufferPointer($0)) }
    }

    /// Starts loading the slot where this id would be (a look-up soon after does not wait for memory).
    @inlinable public func prefetch(id: UnsafeRawBufferPointer) { table.prefetch(id) }

    /// Starts loading the device's dense entry (its type, community and subject numbers).
    @inlinable public func prefetch(_ ref: DeviceRef) {
        entries.withUnsafeBufferPointer { cityeye_prefetch($0.baseAddress! + ref.position) }
    }

    public func device(_ id: String) -> Device? { ref(of: id).map { devices[$0.position] } }

    // MARK: by reference

    @inlinable public subscript(ref: DeviceRef) -> Device { _read { yield devices[ref.position] } }
    public func id(of ref: DeviceRef) -> String { devices[ref.position].id }
    @inlinable public func communityIndex(of ref: DeviceRef) -> Int { Int(entries[ref.position].community) }
    @inlinable public func community(of ref: DeviceRef) -> String { communityIDs[communityIndex(of: ref)] }
    /// The position of the device's type in `types`.
    @inlinable public func typeIndex(of ref: DeviceRef) -> Int { Int(entries[ref.position].type) }
    /// The number of the device's subject (devices that describe one thing share it).
    @inlinable public func subjectIndex(of ref: DeviceRef) -> Int32 { entries[ref.position].subject }
    /// The local clock of the device's community.
    @inlinable public func clock(of ref: DeviceRef) -> LocalClock { clocks[communityIndex(of: ref)] }

    /// The local clock of a community of the deployment.
    public func clock(ofCommunity id: String) -> LocalClock? {
        var lo = 0, hi = communityIDs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if communityIDs[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < communityIDs.count && communityIDs[lo] == id ? clocks[lo] : nil
    }

    /// The device's community if `topic` is its usual topic `cityeye/{community}/{device}` (`device`: its id as the
    /// message gave it). Compared whole, as one string: this runs for every line.
    @inlinable public func usualTopic(_ topic: UnsafeRawBufferPointer, of ref: DeviceRef, device: String) -> String? {
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
}

/// The ids' open-addressing table: at most 3/4 full, one cache line a slot — hash tag (4 bytes), position (4, -1:
/// empty), id length (2, at most 65,535), then the id's first `inlineBytes` bytes; a longer id is compared with the
/// device's own. One look-up reads one slot (the id's String is rarely in cache).
@usableFromInline struct SlotTable {
    /// Freed by `release()` (the catalog's deinit): a struct has none of its own.
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let mask: Int
    @usableFromInline static let slotBytes = 64, inlineBytes = 54

    init(ids: [String]) {
        var n = 16
        while n * 3 < ids.count * 4 { n <<= 1 }
        var allocated: UnsafeMutableRawPointer?
        guard posix_memalign(&allocated, Self.slotBytes, n * Self.slotBytes) == 0, let memory = allocated else {
            fatalError("out of memory for the device catalog (\(n) slots)")
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
        base = memory
        mask = n - 1
    }

    func release() { free(base) }

    @inlinable func prefetch(_ id: UnsafeRawBufferPointer) {
        cityeye_prefetch(base + (Int(truncatingIfNeeded: ByteHash.hash(id)) & mask) * Self.slotBytes)
    }

    /// `longIDs`: the catalog, whose devices hold the ids too long for a slot (read only for those).
    @inlinable func find(_ id: UnsafeRawBufferPointer, longIDs: DeviceCatalog) -> Int32? {
        let h = ByteHash.hash(id)
        let tag = UInt32(truncatingIfNeeded: h)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = base + i * Self.slotBytes
            let ref = slot.load(fromByteOffset: 4, as: Int32.self)
            if ref < 0 { return nil }
            if slot.load(as: UInt32.self) == tag && slot.load(fromByteOffset: 8, as: UInt16.self) == UInt16(clamping: id.count)
                && equal(ref, slot, id, longIDs) {
                return ref
            }
            i = (i + 1) & mask
        }
    }

    @inlinable func equal(_ ref: Int32, _ slot: UnsafeMutableRawPointer, _ id: UnsafeRawBufferPointer, _ catalog: DeviceCatalog) -> Bool {
        if id.isEmpty { return true }
        if id.count <= Self.inlineBytes { return memcmp(slot + 10, id.baseAddress!, id.count) == 0 }
        var stored = catalog.devices[Int(ref)].id
        return stored.withUTF8 { $0.count == id.count && memcmp($0.baseAddress!, id.baseAddress!, id.count) == 0 }
    }
}
