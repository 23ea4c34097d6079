import Model

/// A strict RFC 8259 JSON scanner over UTF-8 bytes in place. Errors carry a short reason.
struct JSONScanner {
    struct Failure: Error { var message: String }

    let b: UnsafeRawBufferPointer
    var i = 0
    static let maxDepth = 64

    init(_ bytes: UnsafeRawBufferPointer) { b = bytes }

    @inline(__always) mutating func skipWhitespace() {
        while i < b.count {
            let c = b[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    @inline(__always) func fail(_ m: String) -> Failure { Failure(message: "\(m) at byte \(i)") }

    mutating func expect(_ c: UInt8) throws(Failure) {
        skipWhitespace()
        guard i < b.count, b[i] == c else { throw fail(i < b.count ? "expected '\(Character(Unicode.Scalar(c)))'" : "unexpected end") }
        i += 1
    }

    mutating func value(depth: Int) throws(Failure) -> JSONValue {
        skipWhitespace()
        guard i < b.count else { throw fail("unexpected end") }
        switch b[i] {
        case 0x7B: return .object(try object(depth: depth + 1))
        case 0x5B:
            guard depth + 1 <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
            i += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if i < b.count && b[i] == 0x5D { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < b.count else { throw fail("unexpected end in array") }
                if b[i] == 0x2C { i += 1; continue }
                if b[i] == 0x5D { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default: return .number(try number())
        }
    }

    mutating func object(depth: Int) throws(Failure) -> JSONObject {
        guard depth <= Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth)") }
        try expect(0x7B)
        var fields: [JSONObject.Field] = []
        skipWhitespace()
        if i < b.count && b[i] == 0x7D { i += 1; return JSONObject(fields) }
        fields.reserveCapacity(4)  // one allocation for most objects, not one per doubling
        while true {
            skipWhitespace()
            guard i < b.count, b[i] == 0x22 else { throw fail("expected a key") }
            let k = try string()
            try expect(0x3A)
            let v = try value(depth: depth)
            if let j = fields.firstIndex(where: { $0.key == k }) { fields.remove(at: j) }
            fields.append(JSONObject.Field(key: k, value: v))
            skipWhitespace()
            guard i < b.count else { throw fail("unexpected end in object") }
            if b[i] == 0x2C { i += 1; continue }
            if b[i] == 0x7D { i += 1; return JSONObject(fields) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("bad literal") }
        let p = word.utf8Start
        for k in 0..<n where b[i + k] != p[k] { throw fail("bad literal") }
        i += n
    }

    /// Skips a value, checking its syntax, without building it.
    mutating func skipValue(depth: Int) throws(Failure) {
        _ = try value(depth: depth)
    }

    /// The raw bytes of a string without escapes (fast path), or nil when it has escapes.
    /// On return `i` is past the closing quote.
    mutating func stringRange() throws(Failure) -> (Range<Int>, hasEscapes: Bool, ascii: Bool) {
        i += 1  // opening quote
        let start = i
        var ascii = true
        var escapes = false
        // Eight bytes at a time while none is a quote, a backslash, a control character or non-ASCII.
        if let base = b.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
            while i + 8 <= b.count {
                let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let quote = v ^ 0x2222_2222_2222_2222, slash = v ^ 0x5C5C_5C5C_5C5C_5C5C
                let special = ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | ((v &- 0x2020_2020_2020_2020) & ~v) | v
                let found = special & high
                // The lowest flagged byte is a real one (a borrow can only flag bytes after it): go straight there.
                if found != 0 { i += found.trailingZeroBitCount >> 3; break }
                i += 8
            }
        }
        while i < b.count {
            let c = b[i]
            if c == 0x22 { let r = start..<i; i += 1; return (r, escapes, ascii) }
            if c == 0x5C {
                escapes = true
                i += 2
                continue
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        throw fail("unterminated string")
    }

    mutating func string() throws(Failure) -> String {
        let (r, esc, ascii) = try stringRange()
        if !esc {
            let slice = UnsafeRawBufferPointer(rebasing: b[r])
            if !ascii && !UTF8Check.valid(slice) { throw fail("invalid UTF-8") }
            return String(decoding: slice, as: UTF8.self)
        }
        return try unescape(r)
    }

    func unescape(_ r: Range<Int>) throws(Failure) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var k = r.lowerBound
        func hex4(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= r.upperBound else { throw Failure(message: "bad \\u escape") }
            var v: UInt32 = 0
            for j in at..<(at + 4) {
                let c = b[j]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw Failure(message: "bad \\u escape")
                }
                v = v << 4 | d
            }
            return v
        }
        while k < r.upperBound {
            let c = b[k]
            if c != 0x5C { out.append(c); k += 1; continue }
            guard k + 1 < r.upperBound else { throw Failure(message: "bad escape") }
            let e = b[k + 1]
            k += 2
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var u = try hex4(k)
                k += 4
                if (0xD800...0xDBFF).contains(u) {
                    guard k + 6 <= r.upperBound, b[k] == 0x5C, b[k + 1] == 0x75 else { throw Failure(message: "lone surrogate in \\u escape") }
                    let lo = try hex4(k + 2)
                    guard (0xDC00...0xDFFF).contains(lo) else { throw Failure(message: "lone surrogate in \\u escape") }
                    k += 6
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(u) {
                    throw Failure(message: "lone surrogate in \\u escape")
                }
                guard let scalar = Unicode.Scalar(u) else { throw Failure(message: "bad \\u escape") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw Failure(message: "bad escape \\\(Character(Unicode.Scalar(e)))")
            }
        }
        let valid = out.withUnsafeBytes { UTF8Check.valid($0) }
        guard valid else { throw Failure(message: "invalid UTF-8") }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func number() throws(Failure) -> Double {
        let start = i
        if i < b.count && b[i] == 0x2D { i += 1 }
        guard i < b.count else { throw fail("bad number") }
        var intPart: UInt64 = 0
        var digits = 0
        if b[i] == 0x30 {
            i += 1
            digits = 1
        } else if b[i] >= 0x31 && b[i] <= 0x39 {
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 18 { intPart = intPart * 10 + UInt64(b[i] - 0x30) }
                digits += 1
                i += 1
            }
        } else {
            throw fail("unexpected character")
        }
        var simple = digits <= 15
        if i < b.count && b[i] == 0x2E {
            i += 1
            let f = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > f else { throw fail("bad number") }
            simple = false
        }
        if i < b.count && (b[i] == 0x65 || b[i] == 0x45) {
            i += 1
            if i < b.count && (b[i] == 0x2B || b[i] == 0x2D) { i += 1 }
            let e = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > e else { throw fail("bad number") }
            simple = false
        }
        if simple {
            let v = Double(intPart)
            return b[start] == 0x2D ? -v : v
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw Failure(message: "number out of range: \(text.prefix(40))") }
        return d
    }
}

/// UTF-8 validation (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
enum UTF8Check {
    static func valid(_ p: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = p.count
        while i < n {
            let c = p[i]
            if c < 0x80 { i += 1; continue }
            var need = 0
            var minV: UInt32 = 0
            var v: UInt32 = 0
            if c & 0xE0 == 0xC0 { need = 1; v = UInt32(c & 0x1F); minV = 0x80 }
            else if c & 0xF0 == 0xE0 { need = 2; v = UInt32(c & 0x0F); minV = 0x800 }
            else if c & 0xF8 == 0xF0 { need = 3; v = UInt32(c & 0x07); minV = 0x10000 }
            else { return false }
            if i + need >= n { return false }
            for k in 1...need {
                let d = p[i + k]
                guard d & 0xC0 == 0x80 else { return false }
                v = v << 6 | UInt32(d & 0x3F)
            }
            if v < minV || v > 0x10FFFF || (0xD800...0xDFFF).contains(v) { return false }
            i += need + 1
        }
        return true
    }
}
