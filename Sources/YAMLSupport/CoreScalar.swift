import Yams

/// A scalar read per YAML 1.2's core schema, not Yams' YAML 1.1 constructors (which read `07:30` as the
/// sexagesimal 450, `yes`/`on` as true and `0800` as a number), so that a value written without quotes means
/// what a person reading the file sees.
public enum CoreScalar: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)

    /// Quoted and block scalars are always strings; a plain one is resolved by the 1.2 core schema's regexes;
    /// an explicit `!!str`/`!!int`/… tag is honoured.
    public init(_ s: Node.Scalar) {
        switch s.tag.description {
        case "":
            self = s.style == .plain ? Self.resolve(plain: s.string) : .string(s.string)
        case Tag.Name.null.rawValue: self = .null
        case Tag.Name.bool.rawValue: self = Self.bool(s.string).map(CoreScalar.bool) ?? .string(s.string)
        case Tag.Name.int.rawValue: self = Self.int(s.string).map(CoreScalar.int) ?? .string(s.string)
        case Tag.Name.float.rawValue: self = Self.float(s.string).map(CoreScalar.float) ?? .string(s.string)
        default: self = .string(s.string)
        }
    }

    /// `~`, `null`/`Null`/`NULL`, empty; `true`/`True`/`TRUE`/`false`/…; `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`;
    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?.inf`, `.nan`. One deliberate exception: digits
    /// with a leading zero (`0800`, `-07`) stay text: YAML 1.1 reads them as octal and 1.2 as decimal, and in a
    /// registry they are times or codes, not quantities.
    public static func resolve(plain t: String) -> CoreScalar {
        switch t {
        case "", "~", "null", "Null", "NULL": return .null
        default: break
        }
        if let b = bool(t) { return .bool(b) }
        if let i = int(t) { return .int(i) }
        if let d = float(t) { return .float(d) }
        return .string(t)
    }

    static func bool(_ t: String) -> Bool? {
        switch t {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    static func int(_ t: String) -> Int? {
        let u = Array(t.utf8)
        if u.count > 2, u[0] == 0x30, u[1] == 0x6F { // 0o
            return u[2...].allSatisfy { (0x30...0x37).contains($0) } ? Int(t.dropFirst(2), radix: 8) : nil
        }
        if u.count > 2, u[0] == 0x30, u[1] == 0x78 { // 0x
            return u[2...].allSatisfy(isHexDigit) ? Int(t.dropFirst(2), radix: 16) : nil
        }
        let digits = u.first == 0x2B || u.first == 0x2D ? u.dropFirst() : u[...]
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        if digits.count > 1 && digits.first == 0x30 { return nil }
        return Int(t)
    }

    static func float(_ t: String) -> Double? {
        switch t {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        let u = Array(t.utf8)
        var i = u.first == 0x2B || u.first == 0x2D ? 1 : 0
        let intStart = i
        while i < u.count, isDigit(u[i]) { i += 1 }
        let intDigits = i - intStart
        var fracDigits = 0
        var hasDot = false
        if i < u.count, u[i] == 0x2E {
            hasDot = true
            i += 1
            while i < u.count, isDigit(u[i]) { i += 1; fracDigits += 1 }
        }
        // `[0-9]+(\.[0-9]*)?` or `\.[0-9]+`
        guard intDigits > 0 || fracDigits > 0 else { return nil }
        var hasExponent = false
        if i < u.count, u[i] == 0x65 || u[i] == 0x45 {
            hasExponent = true
            i += 1
            if i < u.count, u[i] == 0x2B || u[i] == 0x2D { i += 1 }
            let start = i
            while i < u.count, isDigit(u[i]) { i += 1 }
            guard i > start else { return nil }
        }
        guard i == u.count else { return nil }
        // Plain digits with a leading zero stay text (see `resolve`): `0800` is not 800.0 either.
        if !hasDot && !hasExponent { return nil }
        return Double(t)
    }

    /// The same rules for Yams, which resolves a node's tag when nodes are compared or its `tag` is read: the
    /// document is composed with it so that no path reads it with YAML 1.1's rules. `CoreScalar` itself uses the
    /// hand-written matchers above (a regex per scalar would cost seconds on a city's registry).
    nonisolated(unsafe) public static let resolver: Resolver = {
        try! Resolver.basic
            .appending(.null, "^(?:~|null|Null|NULL|)$")
            .appending(.bool, "^(?:true|True|TRUE|false|False|FALSE)$")
            .appending(.int, "^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$")
            .appending(.float, "^(?:[-+]?(?:\\.[0-9]+|[0-9]+\\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
                + "|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$")
    }()

    private static func isDigit(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) }
    private static func isHexDigit(_ c: UInt8) -> Bool { isDigit(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }
}
