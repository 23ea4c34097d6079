#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An event type's name and the typed fields of its `data`.
public struct EventTypeSpec: Hashable, Sendable {
    public var name: String
    public var fields: [FieldSpec]
    public init(name: String, fields: [FieldSpec]) { self.name = name; self.fields = fields }
}

/// A device type's name and the typed attributes (`attrs`) its rules read.
public struct DeviceTypeSpec: Hashable, Sendable {
    public var name: String
    public var attrs: [AttrSpec]
    public init(name: String, attrs: [AttrSpec]) { self.name = name; self.attrs = attrs }
}

/// Types a schema file declares, each with where (file:line) for messages.
public struct SchemaDeclarations: Sendable, Equatable {
    public var events: [(spec: EventTypeSpec, at: String)] = []
    public var devices: [(spec: DeviceTypeSpec, at: String)] = []
    public init() {}

    public static func == (a: SchemaDeclarations, b: SchemaDeclarations) -> Bool {
        a.events.map(\.spec) == b.events.map(\.spec) && a.devices.map(\.spec) == b.devices.map(\.spec)
    }
}

/// A declaration that cannot join what is known: a type declared again with other fields, or too many types.
public struct SchemaConflict: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the refused declaration is (file:line).
    public var at: String
    public var message: String
    public var description: String { "\(at): \(message)" }
}

/// What this process knows of event and device types at one moment; never changed once made.
public final class SchemaTables: Sendable {
    /// By `EventType.ordinal`: the shipped types first.
    public let events: [EventTypeSpec]
    /// Device types in the order they became known: the shipped ones first.
    public let deviceTypeNames: [String]
    let devices: [String: DeviceTypeSpec]
    /// Where each declared type came from ("the shipped schema" or a file:line), for conflict messages.
    let origins: [String: String]
    /// Event types by the length of their name, each with the name's bytes: a name is found by a few short compares.
    private let byLength: [[(ordinal: Int, name: [UInt8])]]

    init(events: [EventTypeSpec], devices: [DeviceTypeSpec], origins: [String: String]) {
        self.events = events
        self.deviceTypeNames = devices.map(\.name)
        self.devices = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0) })
        self.origins = origins
        var t = Array(repeating: [(ordinal: Int, name: [UInt8])](), count: 1 + (events.map(\.name.utf8.count).max() ?? 0))
        for (i, e) in events.enumerated() { t[e.name.utf8.count].append((i, Array(e.name.utf8))) }
        byLength = t
    }

    public func eventType(named bytes: UnsafeRawBufferPointer) -> EventType? {
        guard !bytes.isEmpty, bytes.count < byLength.count else { return nil }
        for (ordinal, name) in byLength[bytes.count] where name.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
            return EventType(ordinal: ordinal)
        }
        return nil
    }

    public func device(_ name: String) -> DeviceTypeSpec? { devices[name] }
}

/// The event and device types of this process: the shipped schema (docs/contract.md §5–6), and what a deployment declared in its
/// schema files (found under the rules folder, recorded in the store). Declaring only adds: a type already known
/// may be declared again only with the very same fields, so the shipped schema can never be changed by a file,
/// and the tables a running engine reads never lose a type.
public enum Schema {
    /// A rule's trigger holds its event types as bits of one 64-bit word.
    public static let maxEventTypes = 64

    public static var current: SchemaTables { storage.load(ordering: .acquiring).takeUnretainedValue() }

    /// Adds the declarations, all or none; returns every conflict (nothing added then).
    @discardableResult
    public static func declare(_ d: SchemaDeclarations) -> [SchemaConflict] {
        writer.withLock { retired in
            let now = current
            var events = now.events, devices = now.deviceTypeNames.compactMap(now.device), origins = now.origins
            var conflicts: [SchemaConflict] = []
            var changed = false
            for (spec, at) in d.events {
                if let i = events.firstIndex(where: { $0.name == spec.name }) {
                    if events[i] != spec {
                        conflicts.append(SchemaConflict(at: at, message: "event type \(spec.name) is already declared with other fields (in \(origins["event:" + spec.name] ?? "the shipped schema")): a declared type cannot change; give yours another name"))
                    }
                    continue
                }
                guard events.count < maxEventTypes else {
                    conflicts.append(SchemaConflict(at: at, message: "event type \(spec.name): at most \(maxEventTypes) event types in all (\(EventSchema.shipped.count) shipped)"))
                    continue
                }
                events.append(spec); origins["event:" + spec.name] = at; changed = true
            }
            for (spec, at) in d.devices {
                if let i = devices.firstIndex(where: { $0.name == spec.name }) {
                    if devices[i] != spec {
                        conflicts.append(SchemaConflict(at: at, message: "device type \(spec.name) is already declared with other attrs (in \(origins["device:" + spec.name] ?? "the shipped schema")): a declared type cannot change; give yours another name"))
                    }
                    continue
                }
                devices.append(spec); origins["device:" + spec.name] = at; changed = true
            }
            guard conflicts.isEmpty else { return conflicts }
            if changed {
                // The old tables stay alive (and reachable, for LeakSanitizer too): a reader may hold them without
                // a reference count. A process declares a few dozen types at most, so few versions are kept.
                retired.append(now)
                storage.store(.passRetained(SchemaTables(events: events, devices: devices, origins: origins)), ordering: .releasing)
            }
            return []
        }
    }

    /// How many earlier versions of the tables are kept (for tests).
    static var keptVersions: Int { writer.withLock { $0.count } }

    /// Serialises declarations; holds every earlier version of the tables.
    private static let writer = Mutex<[SchemaTables]>([])
    private static let storage = Atomic<Unmanaged<SchemaTables>>(
        .passRetained(SchemaTables(events: EventSchema.shipped, devices: DeviceSchema.shipped, origins: [:])))
}
