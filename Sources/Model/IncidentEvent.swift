/// One occurrence behind an incident, as the store keeps it (`incident_event`, docs/contract.md §8): the event that
/// raised or repeated it, or — for a timed rule that fired on the clock — no event (`eventID` and `type` empty).
public struct IncidentEvent: Hashable, Sendable {
    public var incident: Int64
    /// The occurrence's number within its incident: 1 raised it, n is the incident's count after it.
    public var seq: Int64
    public var eventID: String
    public var device: String
    /// The event type's wire name; empty for an occurrence raised by the clock.
    public var type: String
    public var ts: Instant
    /// The event's `data` as compact JSON (`{}` for the clock).
    public var data: String

    public init(incident: Int64, seq: Int64, eventID: String, device: String, type: String, ts: Instant, data: String) {
        self.incident = incident; self.seq = seq; self.eventID = eventID; self.device = device; self.type = type
        self.ts = ts; self.data = data
    }

    /// Raised by a rule's timer (held, absence, not_followed, sum_below), not by an event.
    public var byClock: Bool { type.isEmpty }

    /// The data of an occurrence the clock raised: the rule's kind and when what its timer waited on began,
    /// `{"timer":"held","since":"2026-11-24T00:01:30.000Z"}`.
    public static func clockData(kind: String, since: Instant) -> String {
        "{\"timer\":\(JSONText.quoted(kind)),\"since\":\"\(RFC3339.format(since))\"}"
    }

    /// How an occurrence raised by the clock reads, in English with `%@` for the start: "held since %@".
    public var clockPhrase: String? {
        guard let kind = clockTimer?.kind else { return nil }
        switch kind {
        case "held": return "held since %@"
        case "absence": return "nothing heard since %@"
        case "not_followed": return "not followed up since %@"
        case "sum_below": return "too little in the window since %@"
        default: return nil
        }
    }

    /// The kind and start read back from `clockData` (nil for an event's data or anything else).
    public var clockTimer: (kind: String, since: Instant)? {
        guard byClock else { return nil }
        let parts = data.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count == 9, parts[0] == "{", parts[1] == "timer", parts[5] == "since", parts[8] == "}",
              let since = RFC3339.parse(String(parts[7])) else { return nil }
        return (String(parts[3]), since)
    }

    /// How many occurrences' events an incident keeps: the first ones and the latest ones; those between are dropped
    /// (the incident's `count` still counts them).
    public static let keptFirst: Int64 = 5
    public static let keptLatest: Int64 = 20

    /// Whether occurrence `seq` is kept once the incident has counted `count` occurrences.
    @inline(__always) public static func kept(seq: Int64, count: Int64) -> Bool {
        seq <= keptFirst || seq > count - keptLatest
    }

    /// Occurrences of an incident of `count` occurrences whose events are no longer kept (between the first and the
    /// latest ones).
    public static func dropped(count: Int64) -> Int64 { max(0, count - keptFirst - keptLatest) }
}

extension JSONValue {
    /// Compact JSON (no spaces), strings quoted by `JSONText`; object keys in their order. An integral number within
    /// ±2^53 is written without a fraction.
    public func appendCompact(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .number(let d):
            if d.rounded(.towardZero) == d && abs(d) <= 9_007_199_254_740_992 {
                out.append(contentsOf: Array(String(Int64(d)).utf8))
            } else if d.isFinite {
                out.append(contentsOf: Array(String(d).utf8))
            } else {
                out.append(contentsOf: Array("null".utf8))
            }
        case .string(let s): JSONText.appendQuoted(s, to: &out)
        case .array(let a):
            out.append(0x5B)
            for (n, v) in a.enumerated() {
                if n > 0 { out.append(0x2C) }
                v.appendCompact(to: &out)
            }
            out.append(0x5D)
        case .object(let o): o.appendCompact(to: &out)
        }
    }
}

extension JSONObject {
    public func appendCompact(to out: inout [UInt8]) {
        out.append(0x7B)
        for (n, f) in fields.enumerated() {
            if n > 0 { out.append(0x2C) }
            JSONText.appendQuoted(f.key, to: &out)
            out.append(0x3A)
            f.value.appendCompact(to: &out)
        }
        out.append(0x7D)
    }

    /// The object as compact JSON text.
    public var compactJSON: String {
        var out: [UInt8] = []
        out.reserveCapacity(16 + fields.count * 24)
        appendCompact(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
