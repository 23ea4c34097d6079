#if canImport(Glibc)
import Glibc
#endif

/// One accepted sensor event (docs/contract.md §2), validated against the registry and the schema of its type.
public struct Event: Hashable, Sendable {
    public var id: String
    public var ts: Instant
    public var device: String
    public var type: EventType
    public var data: JSONObject
    /// The MQTT topic it came on, or the `topic` field of a log line; nil if none.
    public var topic: String? {
        get { topicText.string(device: device) }
        set { topicText = TopicText(newValue) }
    }
    public var topicText: TopicText
    /// The device in the registry's catalog (set by validation; nil for an event made by hand, which the rule
    /// engine looks up by id). Not part of equality.
    public var deviceRef: DeviceRef?

    public init(id: String, ts: Instant, device: String, type: EventType, data: JSONObject, topic: String? = nil,
                deviceRef: DeviceRef? = nil) {
        self.id = id; self.ts = ts; self.device = device; self.type = type; self.data = data
        self.topicText = TopicText(topic)
        self.deviceRef = deviceRef
    }

    public init(id: String, ts: Instant, device: String, type: EventType, data: JSONObject, topicText: TopicText,
                deviceRef: DeviceRef?) {
        self.id = id; self.ts = ts; self.device = device; self.type = type; self.data = data
        self.topicText = topicText
        self.deviceRef = deviceRef
    }

    public static func == (a: Event, b: Event) -> Bool {
        a.id == b.id && a.ts == b.ts && a.device == b.device && a.type == b.type && a.data == b.data && a.topic == b.topic
    }

    public func hash(into h: inout Hasher) {
        h.combine(id); h.combine(ts); h.combine(device); h.combine(type)
    }
}

/// An event type: a shipped one (docs/contract.md §5–6) or one a deployment declared in a schema file
/// (`Schema`). Its `ordinal` indexes per-type tables on the hot path; the shipped types keep theirs (0–28),
/// declared ones follow in the order this process learnt them, so an ordinal is never written down.
public struct EventType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    public let ordinal: Int

    init(ordinal: Int) { self.ordinal = ordinal }

    /// The wire name (`access.pass`).
    public var rawValue: String { Schema.current.events[ordinal].name }
    public var description: String { rawValue }

    public init?(rawValue: String) {
        guard let t = Self.named(rawValue) else { return nil }
        self = t
    }

    public static func == (a: EventType, b: EventType) -> Bool { a.ordinal == b.ordinal }
    public func hash(into h: inout Hasher) { h.combine(ordinal) }

    /// Every type this process knows now: the shipped ones, then the declared ones.
    public static var allCases: [EventType] { (0..<Schema.current.events.count).map(EventType.init(ordinal:)) }
    /// The shipped types alone, in the contract's order.
    public static let shipped: [EventType] = (0..<EventSchema.shipped.count).map(EventType.init(ordinal:))

    public static let accessPass = EventType(ordinal: 0), accessDoor = EventType(ordinal: 1), accessTailgate = EventType(ordinal: 2)
    public static let wasteLevel = EventType(ordinal: 3), wasteDrop = EventType(ordinal: 4), wasteDumping = EventType(ordinal: 5)
    public static let elevatorStatus = EventType(ordinal: 6), elevatorEbike = EventType(ordinal: 7)
    public static let elevatorAlarm = EventType(ordinal: 8), elevatorHeartbeat = EventType(ordinal: 9)
    public static let venueFootfall = EventType(ordinal: 10), venueVisit = EventType(ordinal: 11)
    public static let powerReading = EventType(ordinal: 12), chargingSession = EventType(ordinal: 13)
    public static let chargingReading = EventType(ordinal: 14), ebikeCorridor = EventType(ordinal: 15), smokeAlarm = EventType(ordinal: 16)
    public static let venueOccupancy = EventType(ordinal: 17), venueMinor = EventType(ordinal: 18), schoolLoitering = EventType(ordinal: 19)
    public static let waterUsage = EventType(ordinal: 20), doorContact = EventType(ordinal: 21), motionDetected = EventType(ordinal: 22)
    public static let bandSos = EventType(ordinal: 23), bandFall = EventType(ordinal: 24), bandOk = EventType(ordinal: 25)
    public static let bandVitals = EventType(ordinal: 26), bandHeartbeat = EventType(ordinal: 27)
    public static let parkingSpot = EventType(ordinal: 28)

    /// Faster than `init(rawValue:)` on the hot path.
    public static func named(_ name: String) -> EventType? {
        var name = name
        return name.withUTF8 { named(UnsafeRawBufferPointer($0)) }
    }

    /// The type whose wire name is these UTF-8 bytes.
    public static func named(_ bytes: UnsafeRawBufferPointer) -> EventType? {
        Schema.current.eventType(named: bytes)
    }
}

/// What a field of an event's `data` must be (docs/contract.md §5–6).
public enum FieldKind: Hashable, Sendable {
    case int(ClosedRange<Int64>?)
    case number(ClosedRange<Double>?)
    case bool
    case string
    case oneOf([String])
    case stringOrNull
}

public struct FieldSpec: Hashable, Sendable {
    public var name: String
    public var kind: FieldKind
    /// A required field missing is `bad_field`; an optional one, if present, must still have its kind.
    public var required: Bool

    public init(name: String, kind: FieldKind, required: Bool) { self.name = name; self.kind = kind; self.required = required }
}

/// The typed fields of each event type. Fields a shipped rule needs are required; multi-metric
/// readings (`power.reading`, `charging.reading`) may carry any subset of their metrics.
public enum EventSchema {
    public static func fields(of type: EventType) -> [FieldSpec] { Schema.current.events[type.ordinal].fields }

    /// The shipped event types in the contract's order: their position is their `EventType.ordinal`.
    public static let shipped: [EventTypeSpec] = table.map { EventTypeSpec(name: $0.0, fields: $0.1) }

    private static func r(_ n: String, _ k: FieldKind) -> FieldSpec { FieldSpec(name: n, kind: k, required: true) }
    private static func o(_ n: String, _ k: FieldKind) -> FieldSpec { FieldSpec(name: n, kind: k, required: false) }
    private static let streams = ["kitchen", "recyclable", "hazardous", "other"]

    private static let table: [(String, [FieldSpec])] = [
        ("access.pass", [r("result", .oneOf(["granted", "denied"])),
                      o("method", .oneOf(["face", "card", "qr", "plate"])),
                      o("person", .oneOf(["resident", "visitor", "unknown"]))]),
        ("access.door", [r("state", .oneOf(["open", "closed"]))]),
        ("access.tailgate", [r("count", .int(0...Int64.max))]),
        ("waste.level", [o("stream", .oneOf(streams)), r("fill_pct", .number(0...100))]),
        ("waste.drop", [o("stream", .oneOf(streams)), r("correct", .bool)]),
        ("waste.dumping", []),
        ("elevator.status", [o("floor", .int(nil)), r("moving", .bool), r("door", .oneOf(["open", "closed"])),
                          r("between_floors", .bool), r("occupants", .int(0...Int64.max))]),
        ("elevator.ebike", [r("confidence", .number(0...1))]),
        ("elevator.alarm", [o("kind", .oneOf(["button", "overspeed", "door_fault"]))]),
        ("elevator.heartbeat", []),
        ("venue.footfall", [o("entered", .int(0...Int64.max)), r("elderly", .int(0...Int64.max))]),
        ("venue.visit", [r("person", .string), r("elderly", .bool)]),
        ("power.reading", [o("current_a", .number(nil)), o("leakage_ma", .number(nil)),
                        o("temp_c", .number(nil)), o("power_w", .number(nil))]),
        ("charging.session", [r("port", .int(nil)), r("state", .oneOf(["start", "stop"]))]),
        ("charging.reading", [r("port", .int(nil)), o("power_w", .number(nil)), o("temp_c", .number(nil))]),
        ("ebike.corridor", [r("present", .bool)]),
        ("smoke.alarm", []),
        ("venue.occupancy", [r("count", .int(0...Int64.max))]),
        ("venue.minor", [r("confidence", .number(0...1))]),
        ("school.loitering", [r("seconds", .int(0...Int64.max))]),
        ("water.usage", [r("liters", .number(0...Double.greatestFiniteMagnitude))]),
        ("door.contact", [r("open", .bool)]),
        ("motion.detected", []), ("band.sos", []), ("band.fall", []), ("band.ok", []),
        ("band.vitals", [r("heart_rate", .int(nil))]),
        ("band.heartbeat", []),
        ("parking.spot", [r("occupied", .bool), o("plate", .stringOrNull)]),
    ]
}
