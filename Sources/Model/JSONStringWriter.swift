/// The one JSON string writer: every hand-written JSON output quotes its strings here.
public enum JSONText {
    /// Appends `s` as a quoted JSON string: `"` and `\` escaped with a backslash, every C0 control as `\u00XX`,
    /// U+2028 and U+2029 as `\u2028`/`\u2029` (valid JSON, but line breaks to JavaScript and to some log
    /// readers), every other character as its UTF-8 bytes.
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { appendEscaped($0, to: &out) }
        out.append(0x22)
    }

    /// `s` as a quoted JSON string (see `appendQuoted`).
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            let width: Int
            if c >= 0x20 && c != 0x22 && c != 0x5C {
                // U+2028/U+2029 are E2 80 A8/A9 in UTF-8.
                guard c == 0xE2, i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] & 0xFE == 0xA8 else { i += 1; continue }
                width = 3
            } else {
                width = 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            switch c {
            case 0x22, 0x5C: out.append(0x5C); out.append(c)
            case 0xE2: out.append(contentsOf: [0x5C, 0x75, 0x32, 0x30, 0x32, bytes[i + 2] == 0xA8 ? 0x38 : 0x39])
            default: out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hexDigit(c >> 4), hexDigit(c & 15)])
            }
            i += width
            runStart = i
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n]))
    }

    @inline(__always) private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }
}
