import Model
#if canImport(Glibc)
import Glibc
#endif

/// A decoded message before it is checked against the registry (docs/contract.md §2).
public struct Envelope: Hashable, Sendable {
    public var id: String
    public var ts: Instant
    public var device: String
    public var type: String
    public var data: JSONObject
    /// A log line's own `topic` field, if it has one.
    public var topic: String? {
        get { topicText.string(device: device) }
        set { topicText = TopicText(newValue) }
    }
    public var topicText: TopicText
    /// The device when the decoder was given a `DeviceCatalog` and found it there; `resolvedBy` is that catalog.
    /// Not part of equality.
    public internal(set) var deviceRef: DeviceRef?
    /// `type` as an event type, when the decoder recognised it (nil: unknown, or not decoded here).
    public internal(set) var eventType: EventType?
    var resolvedBy: ObjectIdentifier?

    public init(id: String, ts: Instant, device: String, type: String, data: JSONObject, topic: String?) {
        self.id = id; self.ts = ts; self.device = device; self.type = type; self.data = data
        self.topicText = TopicText(topic)
    }

    /// Records that `devices` holds the device at `ref`.
    mutating func resolve(_ ref: DeviceRef?, in devices: DeviceCatalog) {
        deviceRef = ref
        resolvedBy = ref == nil ? nil : ObjectIdentifier(devices)
    }

    public static func == (a: Envelope, b: Envelope) -> Bool {
        a.id == b.id && a.ts == b.ts && a.device == b.device && a.type == b.type && a.data == b.data && a.topic == b.topic
    }

    public func hash(into h: inout Hasher) {
        h.combine(id); h.combine(ts); h.combine(device); h.combine(type)
    }
}

/// Decodes one message: size, JSON syntax, then the envelope's fields. Scans the bytes in place.
public enum EnvelopeDecoder {
    public static func decode(_ bytes: [UInt8]) -> Result<Envelope, Rejection> {
        bytes.withUnsafeBytes { decode($0) }
    }

    /// With `devices`, a registered device is found from its bytes (`Envelope.deviceRef`).
    public static func decode(_ bytes: UnsafeRawBufferPointer, devices: DeviceCatalog? = nil) -> Result<Envelope, Rejection> {
        if bytes.count > DeadLetter.maxMessageBytes {
            return .failure(Rejection(.tooLarge, "\(bytes.count) bytes, more than \(DeadLetter.maxMessageBytes)"))
        }
        if let e = decodeUsual(bytes, devices: devices) { return .success(e) }
        var s = JSONScanner(bytes)
        var id: String?, device: String?, type: String?, topic: String?
        var deviceRef: DeviceRef?
        var eventType: EventType?
        var topicBytes: Range<Int>?
        var ts: Instant?
        var tsText: String?
        var data: JSONObject?
        // A repeated key keeps its last value, so a field's problem is forgotten when a later good value comes.
        var bad: [(key: String, message: String)] = []
        func badField(_ key: String, _ m: String) { bad.removeAll { $0.key == key }; bad.append((key, m)) }
        func good(_ key: String) { if !bad.isEmpty { bad.removeAll { $0.key == key } } }
        do throws(JSONScanner.Failure) {
            s.skipWhitespace()
            guard s.i < bytes.count, bytes[s.i] == 0x7B else {
                return .failure(Rejection(.badJSON, s.i < bytes.count ? "the message is not a JSON object" : "empty message"))
            }
            s.i += 1
            s.skipWhitespace()
            if s.i < bytes.count && bytes[s.i] == 0x7D {
                s.i += 1
            } else {
                while true {
                    s.skipWhitespace()
                    guard s.i < bytes.count, bytes[s.i] == 0x22 else { throw s.fail("expected a key") }
                    let field = try EnvelopeField(&s)
                    let key = field.name
                    try s.expect(0x3A)
                    s.skipWhitespace()
                    guard s.i < bytes.count else { throw s.fail("unexpected end") }
                    let isString = bytes[s.i] == 0x22
                    switch field {
                    case .device where isString && devices != nil, .type where isString:
                        good(key)
                        let (r, esc, ascii) = try s.stringRange()
                        let raw = UnsafeRawBufferPointer(rebasing: bytes[r])
                        if !esc && !ascii && !UTF8Check.valid(raw) { throw s.fail("invalid UTF-8") }
                        switch field {
                        case .device:
                            // A new String, not the directory's: its storage is in cache, a shared one's is not.
                            let d = esc ? try s.unescape(r) : String(decoding: raw, as: UTF8.self)
                            deviceRef = esc ? devices!.ref(of: d) : devices!.ref(of: raw)
                            device = d
                        default:
                            let t = esc ? try s.unescape(r) : nil
                            eventType = t.map { EventType.named($0) } ?? EventType.named(raw)
                            type = eventType?.rawValue ?? t ?? String(decoding: raw, as: UTF8.self)
                        }
                    case .topic where isString && devices != nil:
                        good(key)
                        let (r, esc, ascii) = try s.stringRange()
                        if esc {
                            topic = try s.unescape(r)
                            topicBytes = nil
                        } else {
                            let raw = UnsafeRawBufferPointer(rebasing: bytes[r])
                            if !ascii && !UTF8Check.valid(raw) { throw s.fail("invalid UTF-8") }
                            // Usually the device's own topic: compared (and a String made only if not) at the end.
                            topic = nil
                            topicBytes = r
                            // It ends with the device, which comes later: start loading the device's slot.
                            var tail = r.upperBound
                            while tail > r.lowerBound && bytes[tail - 1] != 0x2F { tail -= 1 }
                            if tail > r.lowerBound && tail < r.upperBound {
                                devices!.prefetch(id: UnsafeRawBufferPointer(rebasing: bytes[tail..<r.upperBound]))
                            }
                        }
                    case .id, .device, .type, .topic:
                        if isString {
                            let v = try s.string()
                            good(key)
                            switch field {
                            case .id: id = v
                            case .device: device = v; deviceRef = nil
                            case .type: type = v; eventType = nil
                            default: topic = v
                            }
                        } else {
                            try s.skipValue(depth: 1)
                            badField(key, "\(key) must be a string")
                            if field == .device { deviceRef = nil }
                            if field == .topic { topicBytes = nil }
                        }
                    case .ts:
                        if isString {
                            good(key)
                            let (r, esc, _) = try s.stringRange()
                            if esc {
                                let text = try s.unescape(r)
                                tsText = text
                                ts = RFC3339.parse(text)
                            } else {
                                let raw = UnsafeRawBufferPointer(rebasing: bytes[r])
                                ts = RFC3339.parse(raw)
                                if ts == nil {
                                    if !UTF8Check.valid(raw) { throw s.fail("invalid UTF-8") }
                                    tsText = String(decoding: raw, as: UTF8.self)
                                }
                            }
                        } else {
                            try s.skipValue(depth: 1)
                            badField(key, "ts must be an RFC 3339 string")
                        }
                    case .data:
                        if bytes[s.i] == 0x7B {
                            good(key)
                            data = try s.object(depth: 2)
                        } else {
                            try s.skipValue(depth: 1)
                            badField(key, "data must be an object")
                        }
                    case .other:
                        try s.skipValue(depth: 1)
                    }
                    s.skipWhitespace()
                    guard s.i < bytes.count else { throw s.fail("unexpected end in object") }
                    if bytes[s.i] == 0x2C { s.i += 1; continue }
                    if bytes[s.i] == 0x7D { s.i += 1; break }
                    throw s.fail("expected ',' or '}'")
                }
            }
            s.skipWhitespace()
            if s.i != bytes.count { throw s.fail("trailing characters after the JSON object") }
        } catch {
            return .failure(Rejection(.badJSON, error.message))
        }
        if let first = bad.first { return .failure(Rejection(.badField, first.message)) }
        guard let id else { return .failure(Rejection(.badField, "id is missing")) }
        // 1–128 bytes is always 1–128 characters; count characters only for longer ids.
        let idLength = (1...128).contains(id.utf8.count) ? 1 : id.count
        guard idLength >= 1 && idLength <= 128 else { return .failure(Rejection(.badField, "id must be 1–128 characters, got \(idLength)")) }
        guard let ts else {
            if let tsText { return .failure(Rejection(.badField, "ts is not RFC 3339 with an offset or Z: \"\(tsText.prefix(64))\"")) }
            return .failure(Rejection(.badField, "ts is missing"))
        }
        guard let device, !device.isEmpty else { return .failure(Rejection(.badField, "device is missing")) }
        guard let type else { return .failure(Rejection(.badField, "type is missing")) }
        var e = envelope(id: id, ts: ts, device: device, deviceRef: deviceRef, type: type, data: data ?? JSONObject(),
                         topic: topic, topicBytes: topicBytes.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }, devices)
        e.eventType = eventType
        return .success(e)
    }

    /// `topicBytes`: the unescaped topic, not yet made a String (it is not made one if it is the device's usual).
    private static func envelope(id: String, ts: Instant, device: String, deviceRef: DeviceRef?, type: String, data: JSONObject,
                                 topic: String?, topicBytes: UnsafeRawBufferPointer?, _ devices: DeviceCatalog?) -> Envelope {
        var e = Envelope(id: id, ts: ts, device: device, type: type, data: data, topic: topic)
        if let devices, deviceRef != nil { e.resolve(deviceRef, in: devices) }
        if let raw = topicBytes {
            if let devices, let deviceRef, let community = devices.usualTopic(raw, of: deviceRef, device: device) {
                e.topicText = .usual(community: community)
            } else {
                e.topicText = .text(String(decoding: raw, as: UTF8.self))
            }
        }
        return e
    }

    /// The layout gateways and capture logs write, `{"topic":"…","id":"…","ts":"…","device":"…","type":"…","data":{…}}`
    /// (the topic optional), read without classifying keys one by one. Anything else (another order, spaces,
    /// escapes, a value that would be rejected) gives nil, and the general decoder reads the message from the
    /// start: both give the same envelope (the differential tests hold either way).
    private static func decodeUsual(_ bytes: UnsafeRawBufferPointer, devices: DeviceCatalog?) -> Envelope? {
        var s = JSONScanner(bytes)
        func literal(_ t: StaticString) -> Bool {
            let n = t.utf8CodeUnitCount
            guard s.i + n <= bytes.count else { return false }
            let at = bytes.baseAddress! + s.i, lit = UnsafeRawPointer(t.utf8Start)
            // Up to 16 bytes in two 8-byte words (overlapping when shorter): a call to memcmp costs more.
            let same: Bool
            if n >= 8 {
                same = at.loadUnaligned(as: UInt64.self) == lit.loadUnaligned(as: UInt64.self)
                    && at.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == lit.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            } else if n >= 4 {
                same = at.loadUnaligned(as: UInt32.self) == lit.loadUnaligned(as: UInt32.self)
                    && at.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == lit.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            } else {
                var k = 0
                while k < n && at.load(fromByteOffset: k, as: UInt8.self) == lit.load(fromByteOffset: k, as: UInt8.self) { k += 1 }
                same = k == n
            }
            guard same && (n <= 16 || memcmp(at, lit, n) == 0) else { return false }
            s.i += n
            return true
        }
        /// A string value without escapes, valid UTF-8.
        func plain() -> UnsafeRawBufferPointer? {
            guard s.i < bytes.count, bytes[s.i] == 0x22, let (r, esc, ascii) = try? s.stringRange(), !esc else { return nil }
            let raw = UnsafeRawBufferPointer(rebasing: bytes[r])
            return ascii || UTF8Check.valid(raw) ? raw : nil
        }
        guard literal("{\"") else { return nil }
        var topicBytes: UnsafeRawBufferPointer?
        if literal("topic\":") {
            guard let t = plain(), literal(",\"") else { return nil }
            topicBytes = t
            // It ends with the device, which comes later: start loading the device's slot.
            if let devices {
                var tail = t.count
                while tail > 0 && t[tail - 1] != 0x2F { tail -= 1 }
                if tail > 0 && tail < t.count { devices.prefetch(id: UnsafeRawBufferPointer(rebasing: t[tail...])) }
            }
        }
        guard literal("id\":"), let id = plain(), (1...128).contains(id.count),
              literal(",\"ts\":"), let tsText = plain(), let ts = RFC3339.parse(tsText),
              literal(",\"device\":"), let device = plain(), !device.isEmpty,
              literal(",\"type\":"), let type = plain(),
              literal(",\"data\":"), s.i < bytes.count, bytes[s.i] == 0x7B, let data = try? s.object(depth: 2),
              literal("}"), s.i == bytes.count else { return nil }
        let eventType = EventType.named(type)
        var e = envelope(id: String(decoding: id, as: UTF8.self), ts: ts, device: String(decoding: device, as: UTF8.self),
                         deviceRef: devices?.ref(of: device),
                         type: eventType?.rawValue ?? String(decoding: type, as: UTF8.self), data: data,
                         topic: nil, topicBytes: topicBytes, devices)
        e.eventType = eventType
        return e
    }
}

/// The envelope's keys, recognised from their bytes without making a String (escaped keys are decoded first).
enum EnvelopeField {
    case id, ts, device, type, topic, data, other

    var name: String {
        switch self {
        case .id: "id"
        case .ts: "ts"
        case .device: "device"
        case .type: "type"
        case .topic: "topic"
        case .data: "data"
        case .other: ""
        }
    }

    init(_ s: inout JSONScanner) throws(JSONScanner.Failure) {
        let (r, esc, ascii) = try s.stringRange()
        if esc {
            self = Self.named(try s.unescape(r))
            return
        }
        let raw = UnsafeRawBufferPointer(rebasing: s.b[r])
        if !ascii {
            if !UTF8Check.valid(raw) { throw s.fail("invalid UTF-8") }
            self = .other
            return
        }
        @inline(__always) func isText(_ t: StaticString) -> Bool {
            t.utf8CodeUnitCount == raw.count && memcmp(t.utf8Start, raw.baseAddress!, raw.count) == 0
        }
        switch raw.count {
        case 2: self = isText("id") ? .id : isText("ts") ? .ts : .other
        case 4: self = isText("type") ? .type : isText("data") ? .data : .other
        case 5: self = isText("topic") ? .topic : .other
        case 6: self = isText("device") ? .device : .other
        default: self = .other
        }
    }

    static func named(_ key: String) -> EnvelopeField {
        switch key {
        case "id": .id
        case "ts": .ts
        case "device": .device
        case "type": .type
        case "topic": .topic
        case "data": .data
        default: .other
        }
    }
}
