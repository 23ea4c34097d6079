import Model
#if canImport(Glibc)
import Glibc
#endif

/// The registry's device ids, found from a message's bytes (the decoder finds a device's position in
/// `Registry.deviceTable` while it scans), with what validation needs of each device. All in a few dense arrays:
/// with events from thousands of devices, a device's String and struct are rarely in cache, these mostly are.
public final class DeviceDirectory: Sendable {
    /// `Registry.deviceTable`'s ids.
    public let ids: [String]
    /// Each device's community, as a position in `communities`.
    let community: [UInt16]
    let communities: [String]
    /// Every id's bytes, one after another; id `r` is `bytes[starts[r]..<starts[r + 1]]`.
    private let bytes: [UInt8]
    private let starts: [Int32]
    /// Open addressing, at most half full: the low 32 bits of the id's hash and its position (-1: empty).
    private let slots: [Slot]
    private let mask: Int

    private struct Slot {
        var hash: UInt32
        var ref: Int32
    }

    public init(registry: Registry) {
        let ids = registry.deviceTable.map(\.id)
        self.ids = ids
        let communities = Array(Set(registry.deviceTable.map(\.community))).sorted()
        let byName = Dictionary(uniqueKeysWithValues: communities.enumerated().map { ($1, UInt16($0)) })
        self.communities = communities
        community = registry.deviceTable.map { byName[$0.community]! }
        var bytes: [UInt8] = [], starts: [Int32] = [0]
        for id in ids {
            bytes.append(contentsOf: id.utf8)
            starts.append(Int32(bytes.count))
        }
        var n = 16
        while n < ids.count * 2 { n <<= 1 }
        var slots = Array(repeating: Slot(hash: 0, ref: -1), count: n)
        bytes.withUnsafeBytes { b in
            for r in ids.indices {
                let h = ByteHash.hash(UnsafeRawBufferPointer(rebasing: b[Int(starts[r])..<Int(starts[r + 1])]))
                var i = Int(truncatingIfNeeded: h) & (n - 1)
                while slots[i].ref >= 0 { i = (i + 1) & (n - 1) }
                slots[i] = Slot(hash: UInt32(truncatingIfNeeded: h), ref: Int32(r))
            }
        }
        self.bytes = bytes
        self.starts = starts
        self.slots = slots
        self.mask = n - 1
    }

    /// The position of the device whose id is these UTF-8 bytes, if it is registered.
    public func ref(of id: UnsafeRawBufferPointer) -> Int32? {
        let h = ByteHash.hash(id)
        let tag = UInt32(truncatingIfNeeded: h)
        return slots.withUnsafeBufferPointer { slots in
            bytes.withUnsafeBytes { all in
                starts.withUnsafeBufferPointer { starts in
                    var i = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let s = slots[i]
                        if s.ref < 0 { return nil }
                        if s.hash == tag {
                            let from = Int(starts[Int(s.ref)]), to = Int(starts[Int(s.ref) + 1])
                            if to - from == id.count && (id.isEmpty || memcmp(all.baseAddress! + from, id.baseAddress!, id.count) == 0) {
                                return s.ref
                            }
                        }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    public func ref(of id: String) -> Int32? {
        var id = id
        return id.withUTF8 { ref(of: UnsafeRawBufferPointer($0)) }
    }

    /// True if the device at `ref` has the id `id` (compared with the directory's copy of the bytes).
    func isDevice(_ ref: Int32, _ id: String) -> Bool {
        guard ref >= 0 && Int(ref) < ids.count else { return false }
        let from = Int(starts[Int(ref)]), to = Int(starts[Int(ref) + 1])
        var id = id
        return id.withUTF8 { u in
            bytes.withUnsafeBytes { u.count == to - from && (u.isEmpty || memcmp($0.baseAddress! + from, u.baseAddress!, u.count) == 0) }
        }
    }

    /// The community of a device, by position.
    func community(of ref: Int32) -> String { communities[Int(community[Int(ref)])] }
}
