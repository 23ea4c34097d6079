import Model

/// The rule engine's one view of the deployment's devices, over the registry's `DeviceCatalog`. Inside the engine a
/// device is its `DeviceRef.index` (key slots keep it in 4 bytes and chain free slots through it); signals carry
/// the `DeviceRef` again.
struct RuleDevices {
    let catalog: DeviceCatalog
    /// The deployment's device types, sorted: a device's type index is its type's position here.
    var typeNames: [String] { catalog.types }

    init(_ registry: Registry) { catalog = registry.catalog }

    /// The device of an event: the reference validation gave it, else looked up by id (an event made by hand).
    /// nil for a device not in the registry.
    @inline(__always) func ref(of event: Event) -> Int32? {
        (event.deviceRef ?? catalog.ref(of: event.device))?.index
    }

    func ref(ofID id: String) -> Int32? { catalog.ref(of: id)?.index }

    @inline(__always) func reference(_ ref: Int32) -> DeviceRef { DeviceRef(unchecked: ref) }
    @inline(__always) func typeIndex(of ref: Int32) -> Int { catalog.typeIndex(of: reference(ref)) }
    @inline(__always) func subjectRef(of ref: Int32) -> Int32 { catalog.subjectIndex(of: reference(ref)) }

    /// The id of a key's device ("" for none, a slot never written).
    func id(of ref: Int32) -> String { ref >= 0 ? catalog.id(of: reference(ref)) : "" }

    /// The key of a device- or subject-keyed rule for a device.
    func keyName(_ key: KeySpec, device ref: Int32) -> String {
        let device = catalog[reference(ref)]
        if case .subject = key { return device.subject }
        return device.id
    }

    /// A rule's duration for a device: a fixed one without reading the device (rarely in cache), else from
    /// its attribute.
    @inline(__always) func resolve(_ spec: DurationSpec, for ref: Int32) -> Millis? {
        if let fixed = spec.fixed { return fixed }
        return ref >= 0 ? spec.resolve(catalog[reference(ref)]) : nil
    }

    /// Starts loading the device's dense entry, which `ingest` reads first.
    func prefetch(_ ref: DeviceRef?) {
        guard let ref else { return }
        catalog.prefetch(ref)
    }
}
