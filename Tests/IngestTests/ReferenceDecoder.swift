import Foundation
import Model
@testable import Ingest

/// The reference: Foundation's JSONSerialization plus the same envelope checks, written independently of the
/// byte scanner. Deliberate rules both apply (RFC 8259 strict): nesting deeper than 64 is bad_json; a repeated key
/// keeps its last value; a number must be finite as a Double.
enum ReferenceDecoder {
    static func decode(_ bytes: [UInt8]) -> Result<Envelope, Rejection> {
        if bytes.count > DeadLetter.maxMessageBytes { return .failure(Rejection(.tooLarge)) }
        guard String(validating: bytes, as: UTF8.self) != nil else { return .failure(Rejection(.badJSON)) }
        guard depth(bytes) <= 64, !hasTrailingComma(bytes) else { return .failure(Rejection(.badJSON)) }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) } catch {
            return .failure(Rejection(.badJSON))
        }
        guard let obj = any as? [String: Any] else { return .failure(Rejection(.badJSON)) }
        for (k, _) in obj where ["id", "device", "type", "topic"].contains(k) { if !(obj[k] is String) { return .failure(Rejection(.badField)) } }
        if let ts = obj["ts"], !(ts is String) { return .failure(Rejection(.badField)) }
        if let d = obj["data"], !(d is [String: Any]) { return .failure(Rejection(.badField)) }
        guard let id = obj["id"] as? String else { return .failure(Rejection(.badField)) }
        guard (1...128).contains(id.count) else { return .failure(Rejection(.badField)) }
        guard let tsText = obj["ts"] as? String, let ts = RFC3339.parse(tsText) else { return .failure(Rejection(.badField)) }
        guard let device = obj["device"] as? String, !device.isEmpty else { return .failure(Rejection(.badField)) }
        guard let type = obj["type"] as? String else { return .failure(Rejection(.badField)) }
        guard let data = value(obj["data"] ?? [String: Any]()), case .object(let o) = data else { return .failure(Rejection(.badJSON)) }
        return .success(Envelope(id: id, ts: ts, device: device, type: type, data: o, topic: obj["topic"] as? String))
    }

    /// JSONSerialization on Linux accepts `[1,]` and `{"a":1,}`; RFC 8259 (and the engine) does not.
    static func hasTrailingComma(_ b: [UInt8]) -> Bool {
        var inString = false, escape = false, lastSignificant: UInt8 = 0
        for c in b {
            if inString {
                if escape { escape = false } else if c == 0x5C { escape = true } else if c == 0x22 { inString = false }
                lastSignificant = 0x22
                continue
            }
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            if (c == 0x7D || c == 0x5D) && lastSignificant == 0x2C { return true }
            if c == 0x22 { inString = true }
            lastSignificant = c
        }
        return false
    }

    /// Nesting depth counted outside strings.
    static func depth(_ b: [UInt8]) -> Int {
        var d = 0, maxD = 0, inString = false, escape = false
        for c in b {
            if inString {
                if escape { escape = false } else if c == 0x5C { escape = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case 0x22: inString = true
            case 0x7B, 0x5B: d += 1; maxD = max(maxD, d)
            case 0x7D, 0x5D: d -= 1
            default: break
            }
        }
        return maxD
    }

    static func value(_ v: Any) -> JSONValue? {
        switch v {
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let n as NSNumber:
            if type(of: v) == Bool.self || String(describing: type(of: n)).contains("Bool") { return .bool(n.boolValue) }
            let d = n.doubleValue
            return d.isFinite ? .number(d) : nil
        case let a as [Any]:
            var out: [JSONValue] = []
            for x in a { guard let j = value(x) else { return nil }; out.append(j) }
            return .array(out)
        case let o as [String: Any]:
            var fields: [JSONObject.Field] = []
            for (k, x) in o { guard let j = value(x) else { return nil }; fields.append(.init(key: k, value: j)) }
            return .object(JSONObject(fields))
        default: return nil
        }
    }
}

/// Objects compared as maps: the reference does not keep key order.
func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)):
        var ya: [String: JSONValue] = [:]
        for f in y.fields { ya[f.key] = f.value }
        var xa: [String: JSONValue] = [:]
        for f in x.fields { xa[f.key] = f.value }
        guard xa.count == ya.count else { return false }
        return xa.allSatisfy { k, v in ya[k].map { sameValue(v, $0) } ?? false }
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { sameValue($0, $1) }
    case (.number(let x), .number(let y)):
        return x == y || abs(x - y) <= abs(x) * 1e-15
    case (.bool(let x), .bool(let y)):
        return x == y
    default:
        return a == b
    }
}
