/// A JSON value as decoded from an envelope. Objects keep their key order.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var double: Double? { if case .number(let d) = self { return d }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    /// The value as an integer if it is a number with no fractional part within Int64 range.
    public var int: Int64? {
        guard case .number(let d) = self, d.rounded(.towardZero) == d, abs(d) < 9.2e18 else { return nil }
        return Int64(d)
    }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

/// An ordered JSON object; a repeated key keeps its last value.
public struct JSONObject: Hashable, Sendable {
    public struct Field: Hashable, Sendable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) { self.key = key; self.value = value }
    }
    public var fields: [Field]

    public init(_ fields: [Field] = []) { self.fields = fields }

    public subscript(key: String) -> JSONValue? {
        get {
            var i = fields.count - 1
            while i >= 0 { if fields[i].key == key { return fields[i].value }; i -= 1 }
            return nil
        }
        set {
            if let i = fields.lastIndex(where: { $0.key == key }) {
                if let v = newValue { fields[i].value = v } else { fields.remove(at: i) }
            } else if let v = newValue {
                fields.append(Field(key: key, value: v))
            }
        }
    }

    /// Whether `key` is present with a value other than null (a device attribute a rule can read).
    public func holds(_ key: String) -> Bool { self[key].map { $0 != .null } ?? false }
}
