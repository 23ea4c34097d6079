/// What a device attribute (`attrs.NAME` in the registry) must be.
public enum AttrKind: Hashable, Sendable, CustomStringConvertible {
    case bool, number, int, string
    case strings
    /// "HH:MM-HH:MM", local time of day (wraps midnight when the end is earlier than the start).
    case timeRange

    public var description: String {
        switch self {
        case .bool: "true or false"
        case .number: "a number"
        case .int: "a whole number"
        case .string: "text"
        case .strings: "a list of text"
        case .timeRange: "\"HH:MM-HH:MM\""
        }
    }

    /// Whether a registry value has this kind.
    public func accepts(_ v: JSONValue) -> Bool {
        switch (self, v) {
        case (.bool, .bool), (.number, .number), (.string, .string): return true
        case (.int, .number): return v.int != nil
        case (.strings, .array(let items)): return items.allSatisfy { $0.string != nil }
        case (.timeRange, .string(let s)): return Self.isTimeRange(s)
        default: return false
        }
    }

    /// `H:MM` or `HH:MM`, 00:00 to 24:00, twice, joined by `-` (spaces allowed around it).
    public static func isTimeRange(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            let hm = part.trimmingSpaces().split(separator: ":", omittingEmptySubsequences: false)
            guard hm.count == 2, (1...2).contains(hm[0].count), hm[1].count == 2,
                  hm.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                  let h = Int(hm[0]), let m = Int(hm[1]) else { return false }
            return h <= 24 && m <= 59 && h * 60 + m <= 1440
        }
    }
}

public struct AttrSpec: Hashable, Sendable {
    public var name: String
    public var kind: AttrKind
    public init(_ name: String, _ kind: AttrKind) { self.name = name; self.kind = kind }
}

/// The shipped device types and the typed attributes their rules read (docs/contract.md §5–6), beside `EventSchema`;
/// with the types a deployment declared (`Schema`). Attributes not listed are allowed (a deployment's own notes);
/// listed ones must have their kind.
public enum DeviceSchema {
    /// Every device type known now: the shipped ones, then the declared ones.
    public static var deviceTypes: [String] { Schema.current.deviceTypeNames }

    public static func attrs(of type: String) -> [AttrSpec] { Schema.current.device(type)?.attrs ?? [] }

    public static func attr(_ name: String, of type: String) -> AttrSpec? { attrs(of: type).first { $0.name == name } }

    public static func isKnown(_ type: String) -> Bool { Schema.current.device(type) != nil }

    public static let shipped: [DeviceTypeSpec] = [
        "gate", "bin", "waste_cam", "elevator", "footfall_cam", "power_monitor", "charger", "corridor_cam",
        "smoke_detector", "occupancy_sensor", "school_cam", "water_meter", "door_contact", "pir", "band", "spot_sensor",
    ].map { DeviceTypeSpec(name: $0, attrs: table[$0] ?? []) }

    private static let table: [String: [AttrSpec]] = [
        "footfall_cam": [AttrSpec("flagged", .bool)],
        "power_monitor": [AttrSpec("rated_power_w", .number)],
        "occupancy_sensor": [AttrSpec("capacity", .int), AttrSpec("hours", .timeRange), AttrSpec("category", .string)],
        "spot_sensor": [AttrSpec("plates", .strings), AttrSpec("max_minutes", .number)],
    ]
}

private extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
