/// A piece of HTML. Interpolating a `String` escapes it; only `HTML` values go in as they are, so a template
/// cannot forget to escape a note, a name or a key.
public struct HTML: ExpressibleByStringInterpolation, Sendable, Equatable {
    public private(set) var text: String

    public init(raw: String) { text = raw }
    public init(stringLiteral value: String) { text = value }
    public init(stringInterpolation: Interpolation) { text = stringInterpolation.text }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        public mutating func appendLiteral(_ literal: String) { text += literal }
        public mutating func appendInterpolation(_ value: String) { text += HTML.escape(value) }
        public mutating func appendInterpolation(_ value: HTML) { text += value.text }
        public mutating func appendInterpolation(_ values: [HTML]) { for v in values { text += v.text } }
        public mutating func appendInterpolation<N: BinaryInteger>(_ n: N) { text += String(n) }
    }

    /// Escapes the five characters that are special in HTML text and in quoted attribute values. Byte by byte: the
    /// five are ASCII, and an ASCII byte is never part of another character in UTF-8. Most texts (ids, names, times)
    /// have none of them and are returned as they are (a cockpit page escapes thousands).
    public static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 32)
        for b in s.utf8 {
            switch b {
            case 0x26: out.append(contentsOf: "&amp;".utf8)
            case 0x3C: out.append(contentsOf: "&lt;".utf8)
            case 0x3E: out.append(contentsOf: "&gt;".utf8)
            case 0x22: out.append(contentsOf: "&quot;".utf8)
            case 0x27: out.append(contentsOf: "&#39;".utf8)
            default: out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
