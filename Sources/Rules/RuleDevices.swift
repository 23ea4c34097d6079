import Model
import CPrefetch

/// What every event needs of its device, by `Event.deviceRef`: 16 bytes, one dense array.
struct DeviceKeys {
    /// Position of the device's type among the registry's device types (indexes the engine's rule table).
    var typeIndex: Int32
    var subjectRef: Int32
    /// `ByteHash` of the device id: an event's `deviceRef` is taken only if its device hashes the same.
    var idHash: UInt64
}

/// A registered device with its community's clock; one per device, shared by every event of it.
final class DevicePlace {
    let device: Device
    let clock: LocalClock
    init(device: Device, clock: LocalClock) {
        self.device = device; self.clock = clock
    }
}

/// The rule engine's one view of the registry's devices: every read of device data goes through here. A device
/// is its position in `Registry.deviceTable` (an event's `deviceRef`); its subject is numbered among the subjects.
struct RuleDevices {
    /// By device ref; read by expressions (`attrs.…`, local time) through `EvalContext`.
    let places: [DevicePlace]
    private let keys: [DeviceKeys]
    private let refsByID: [String: Int32]
    /// The registry's device types, sorted: a device's `typeIndex` is its type's position here.
    let typeNames: [String]

    init(_ registry: Registry) {
        var clocks: [String: LocalClock] = [:]
        for c in registry.communities.values {
            clocks[c.id] = LocalClock(identifier: c.timezone) ?? LocalClock(identifier: "Asia/Shanghai")
        }
        let fallback = LocalClock(identifier: "Asia/Shanghai")!
        typeNames = Array(Set(registry.deviceTable.map(\.type))).sorted()
        let typeIndex = Dictionary(uniqueKeysWithValues: typeNames.enumerated().map { ($1, $0) })
        var subjects: [String: Int32] = [:]
        places = registry.deviceTable.map { DevicePlace(device: $0, clock: clocks[$0.community] ?? fallback) }
        keys = registry.deviceTable.map { d in
            let subject = subjects[d.subject] ?? Int32(subjects.count)
            subjects[d.subject] = subject
            return DeviceKeys(typeIndex: Int32(typeIndex[d.type] ?? 0), subjectRef: subject, idHash: ByteHash.hash(d.id))
        }
        refsByID = registry.deviceRefs
    }

    /// The device of an event: its `deviceRef` when validation set it for this registry, else looked up by id
    /// (an event made by hand, or for another registry). nil for a device not in the registry.
    @inline(__always) func ref(of event: Event) -> Int32? {
        let ref = Int(event.deviceRef)
        if ref >= 0 && ref < keys.count && keys[ref].idHash == ByteHash.hash(event.device) { return event.deviceRef }
        return refsByID[event.device]
    }

    func ref(ofID id: String) -> Int32? { refsByID[id] }

    @inline(__always) func typeIndex(of ref: Int32) -> Int { Int(keys[Int(ref)].typeIndex) }
    @inline(__always) func subjectRef(of ref: Int32) -> Int32 { keys[Int(ref)].subjectRef }

    /// The id of a key's device ("" for none, a slot never written).
    func id(of ref: Int32) -> String { ref >= 0 ? places[Int(ref)].device.id : "" }

    /// The key of a device- or subject-keyed rule for a device.
    func keyName(_ key: KeySpec, device ref: Int32) -> String {
        let device = places[Int(ref)].device
        if case .subject = key { return device.subject }
        return device.id
    }

    /// A rule's duration for a device: a fixed one without reading the device (rarely in cache), else from
    /// its attribute.
    @inline(__always) func resolve(_ spec: DurationSpec, for ref: Int32) -> Millis? {
        if let fixed = spec.fixed { return fixed }
        return ref >= 0 ? spec.resolve(places[Int(ref)].device) : nil
    }

    /// Starts loading the device's entry of the dense array that `ingest` reads first.
    func prefetch(_ ref: Int32) {
        guard ref >= 0 && Int(ref) < keys.count else { return }
        keys.withUnsafeBufferPointer { cityeye_prefetch($0.baseAddress! + Int(ref)) }
    }
}
