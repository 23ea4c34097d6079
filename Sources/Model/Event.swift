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

/// The event types of docs/contract.md §5–6. The raw value is the wire name.
public enum EventType: String, CaseIterable, Hashable, Sendable {
    case accessPass = "access.pass", accessDoor = "access.door", accessTailgate = "access.tailgate"
    case wasteLevel = "waste.level", wasteDrop = "waste.drop", wasteDumping = "waste.dumping"
    case elevatorStatus = "elevator.status", elevatorEbike = "elevator.ebike"
    case elevatorAlarm = "elevator.alarm", elevatorHeartbeat = "elevator.heartbeat"
    case venueFootfall = "venue.footfall", venueVisit = "venue.visit"
    case powerReading = "power.reading", chargingSession = "charging.session"
    case chargingReading = "charging.reading", ebikeCorridor = "ebike.corridor", smokeAlarm = "smoke.alarm"
    case venueOccupancy = "venue.occupancy", venueMinor = "venue.minor", schoolLoitering = "school.loitering"
    case waterUsage = "water.usage", doorContact = "door.contact", motionDetected = "motion.detected"
    case bandSos = "band.sos", bandFall = "band.fall", bandOk = "band.ok"
    case bandVitals = "band.vitals", bandHeartbeat = "band.heartbeat"
    case parkingSpot = "parking.spot"

    /// The types by the length of their name, each with its name's bytes: a name is found by a few short compares.
    private static let byLength: [[(type: EventType, name: [UInt8])]] = {
        var t = Array(repeating: [(type: EventType, name: [UInt8])](), count: 1 + allCases.map(\.rawValue.utf8.count).max()!)
        for c in allCases { t[c.rawValue.utf8.count].append((c, Array(c.rawValue.utf8))) }
        return t
    }()

    /// Position in `allCases`, without hashing: indexes per-type tables on the hot path.
    public var ordinal: Int {
        switch self {
        case .accessPass: 0
        case .accessDoor: 1
        case .accessTailgate: 2
        case .wasteLevel: 3
        case .wasteDrop: 4
        case .wasteDumping: 5
        case .elevatorStatus: 6
        case .elevatorEbike: 7
        case .elevatorAlarm: 8
        case .elevatorHeartbeat: 9
        case .venueFootfall: 10
        case .venueVisit: 11
        case .powerReading: 12
        case .chargingSession: 13
        case .chargingReading: 14
        case .ebikeCorridor: 15
        case .smokeAlarm: 16
        case .venueOccupancy: 17
        case .venueMinor: 18
        case .schoolLoitering: 19
        case .waterUsage: 20
        case .doorContact: 21
        case .motionDetected: 22
        case .bandSos: 23
        case .bandFall: 24
        case .bandOk: 25
        case .bandVitals: 26
        case .bandHeartbeat: 27
        case .parkingSpot: 28
        }
    }

    /// Faster than `init(rawValue:)` on the hot path.
    public static func named(_ name: String) -> EventType? {
        var name = name
        return name.withUTF8 { named(UnsafeRawBufferPointer($0)) }
    }

    /// The type whose wire name is these UTF-8 bytes.
    public static func named(_ bytes: UnsafeRawBufferPointer) -> EventType? {
        guard !bytes.isEmpty, bytes.count < byLength.count else { return nil }
        for (type, name) in byLength[bytes.count] where name.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
            return type
        }
        return nil
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
}

/// The typed fields of each event type. Fields a shipped rule needs are required; multi-metric
/// readings (`power.reading`, `charging.reading`) may carry any subset of their metrics.
public enum EventSchema {
    public static func fields(of type: EventType) -> [FieldSpec] { byOrdinal[type.ordinal] }

    private static let byOrdinal: [[FieldSpec]] = EventType.allCases.map { table[$0] ?? [] }

    private static func r(_ n: String, _ k: FieldKind) -> FieldSpec { FieldSpec(name: n, kind: k, required: true) }
    private static func o(_ n: String, _ k: FieldKind) -> FieldSpec { FieldSpec(name: n, kind: k, required: false) }
    private static let streams = ["kitchen", "recyclable", "hazardous", "other"]

    private static let table: [EventType: [FieldSpec]] = [
        .accessPass: [r("result", .oneOf(["granted", "denied"])),
                      o("method", .oneOf(["face", "card", "qr", "plate"])),
                      o("person", .oneOf(["resident", "visitor", "unknown"]))],
        .accessDoor: [r("state", .oneOf(["open", "closed"]))],
        .accessTailgate: [r("count", .int(0...Int64.max))],
        .wasteLevel: [o("stream", .oneOf(streams)), r("fill_pct", .number(0...100))],
        .wasteDrop: [o("stream", .oneOf(streams)), r("correct", .bool)],
        .wasteDumping: [],
        .elevatorStatus: [o("floor", .int(nil)), r("moving", .bool), r("door", .oneOf(["open", "closed"])),
                          r("between_floors", .bool), r("occupants", .int(0...Int64.max))],
        .elevatorEbike: [r("confidence", .number(0...1))],
        .elevatorAlarm: [o("kind", .oneOf(["button", "overspeed", "door_fault"]))],
        .elevatorHeartbeat: [],
        .venueFootfall: [o("entered", .int(0...Int64.max)), r("elderly", .int(0...Int64.max))],
        .venueVisit: [r("person", .string), r("elderly", .bool)],
        .powerReading: [o("current_a", .number(nil)), o("leakage_ma", .number(nil)),
                        o("temp_c", .number(nil)), o("power_w", .number(nil))],
        .chargingSession: [r("port", .int(nil)), r("state", .oneOf(["start", "stop"]))],
        .chargingReading: [r("port", .int(nil)), o("power_w", .number(nil)), o("temp_c", .number(nil))],
        .ebikeCorridor: [r("present", .bool)],
        .smokeAlarm: [],
        .venueOccupancy: [r("count", .int(0...Int64.max))],
        .venueMinor: [r("confidence", .number(0...1))],
        .schoolLoitering: [r("seconds", .int(0...Int64.max))],
        .waterUsage: [r("liters", .number(0...Double.greatestFiniteMagnitude))],
        .doorContact: [r("open", .bool)],
        .motionDetected: [], .bandSos: [], .bandFall: [], .bandOk: [],
        .bandVitals: [r("heart_rate", .int(nil))],
        .bandHeartbeat: [],
        .parkingSpot: [r("occupied", .bool), o("plate", .stringOrNull)],
    ]
}
