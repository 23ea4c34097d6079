import Model
#if canImport(Glibc)
import Glibc
#endif

/// Checks a decoded envelope against the registry, the topic and the schema of its type (docs/contract.md §2–3, §6).
public struct EventValidator: Sendable {
    /// The registry's devices: give it to `EnvelopeDecoder.decode` (what it finds there is not looked up again here).
    public let devices: DeviceCatalog
    /// The fields of each event type known when the validator was made (the schema files are read before it):
    /// looked up per event without going through the process's schema tables.
    private let fieldsByType: [[FieldSpec]]

    public init(registry: Registry) {
        self.devices = registry.catalog
        self.fieldsByType = Schema.current.events.map(\.fields)
    }

    /// `topic` is the MQTT topic the message came on; nil for a log line, whose own `topic` field (if any) is
    /// checked instead.
    public func validate(_ e: consuming Envelope, topic: String?) -> Result<Event, Rejection> {
        validate(&e, topic: topic)
    }

    /// The same, moving the envelope's id, device and data into the event when it is accepted (no copy of
    /// them); a rejected envelope is left as it was.
    public func validate(_ e: inout Envelope, topic: String?) -> Result<Event, Rejection> {
        // An envelope decoded with this directory carries its device's position.
        let carried = e.deviceRef != nil && e.resolvedBy == ObjectIdentifier(devices)
        guard let ref = carried ? e.deviceRef : devices.ref(of: e.device) else {
            return .failure(Rejection(.unknownDevice, "device \(e.device) is not in the registry"))
        }
        let community = devices.community(of: ref)
        // A payload may carry a `topic` field (a log line does); live it must be the topic it came on, or its capture
        // line would replay as another gateway's.
        if let topic, e.topicText != .none, let carried = e.topic, carried != topic {
            return .failure(Rejection(.identityMismatch, "the payload's topic field \(carried) is not the topic it was published on, \(topic)"))
        }
        let checked: String?
        switch (topic, e.topicText) {
        case (let t?, _): checked = t
        case (nil, .none): checked = nil
        case (nil, .text(let t)): checked = t
        // The decoder compared it with this directory's community for the device.
        case (nil, .usual): checked = carried ? nil : e.topic
        }
        if let topic = checked, !Self.topic(topic, names: community, device: e.device) {
            // cityeye/{community}/{device}: the last two segments, whatever the prefix.
            let u = topic.utf8
            guard let slash = u.lastIndex(of: UInt8(ascii: "/")),
                  let slash2 = u[..<slash].lastIndex(of: UInt8(ascii: "/")), slash2 > u.startIndex else {
                return .failure(Rejection(.identityMismatch, "topic \(topic) is not <prefix>/{community}/{device}"))
            }
            let topicDevice = topic[topic.index(after: slash)...]
            let topicCommunity = topic[topic.index(after: slash2)..<slash]
            guard topicDevice == e.device else {
                return .failure(Rejection(.identityMismatch, "topic \(topic) is for device \(topicDevice), the payload says \(e.device)"))
            }
            guard topicCommunity == community else {
                return .failure(Rejection(.identityMismatch, "topic \(topic) is for community \(topicCommunity), device \(e.device) belongs to \(community)"))
            }
        }
        guard let type = e.eventType ?? EventType.named(e.type) else {
            return .failure(Rejection(.unknownType, "type \(e.type) is not an event type City Eye knows"))
        }
        for f in type.ordinal < fieldsByType.count ? fieldsByType[type.ordinal] : EventSchema.fields(of: type) {
            guard let v = e.data[f.name] else {
                if f.required { return .failure(Rejection(.badField, "data.\(f.name) is missing (\(type.rawValue) needs it)")) }
                continue
            }
            if let problem = Self.check(v, f.kind) {
                return .failure(Rejection(.badField, "data.\(f.name) must be \(problem), got \(Self.show(v))"))
            }
        }
        var id = "", device = "", data = JSONObject(), topicText = TopicText.none
        swap(&id, &e.id); swap(&device, &e.device); swap(&data, &e.data); swap(&topicText, &e.topicText)
        return .success(Event(id: id, ts: e.ts, device: device, type: type, data: data,
                              topicText: topic.map { .text($0) } ?? topicText, deviceRef: ref))
    }

    /// True if `topic` is `<prefix>/{community}/{device}` (bytes compared in place: this runs for every message).
    static func topic(_ topic: String, names community: String, device: String) -> Bool {
        var t = topic
        return t.withUTF8 { TopicPath.prefixLength(UnsafeRawBufferPointer($0), community: community, device: device) != nil }
    }

    /// nil if `v` has the kind; else what it should have been.
    static func check(_ v: JSONValue, _ kind: FieldKind) -> String? {
        switch kind {
        case .int(let range):
            guard let i = v.int else { return range.map { "a whole number \($0.lowerBound == 0 ? "≥ 0" : "in \($0)")" } ?? "a whole number" }
            if let range, !range.contains(i) { return "a whole number ≥ \(range.lowerBound)" }
        case .number(let range):
            guard let d = v.double else { return "a number" }
            if let range, !range.contains(d) {
                return range.upperBound == .greatestFiniteMagnitude ? "a number ≥ \(fmt(range.lowerBound))" : "a number \(fmt(range.lowerBound))…\(fmt(range.upperBound))"
            }
        case .bool:
            if v.bool == nil { return "true or false" }
        case .string:
            if v.string == nil { return "a string" }
        case .stringOrNull:
            if v.string == nil && !v.isNull { return "a string or null" }
        case .oneOf(let values):
            guard let s = v.string, values.contains(s) else { return "one of \(values.joined(separator: ", "))" }
        }
        return nil
    }

    static func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int64(d)) : String(d) }

    static func show(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .number(let d): return fmt(d)
        case .string(let s): return "\"\(s.prefix(40))\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}

/// A topic `<prefix>/{community}/{device}` (docs/contract.md §1: gateways publish to `cityeye/{community}/{device}`; the
/// engine accepts any prefix), compared as bytes in place.
enum TopicPath {
    /// The length of the prefix if `topic` names this community and device, else nil.
    static func prefixLength(_ t: UnsafeRawBufferPointer, community: String, device: String) -> Int? {
        var c = community, d = device
        return c.withUTF8 { cb in
            d.withUTF8 { db in
                let slash = UInt8(ascii: "/")
                let deviceAt = t.count - db.count, communityAt = deviceAt - 1 - cb.count
                guard !db.isEmpty, !cb.isEmpty, communityAt >= 2, t[deviceAt - 1] == slash, t[communityAt - 1] == slash,
                      !db.contains(slash), !cb.contains(slash),
                      memcmp(t.baseAddress! + deviceAt, db.baseAddress!, db.count) == 0,
                      memcmp(t.baseAddress! + communityAt, cb.baseAddress!, cb.count) == 0 else { return nil }
                return communityAt - 1
            }
        }
    }
}
