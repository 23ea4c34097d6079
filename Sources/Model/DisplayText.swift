/// Text from the store or a payload as a terminal or a log may show it: C0 and C1 controls (U+009B is a one-byte
/// CSI), DEL, bidi overrides, isolates and marks, and line/paragraph separators come out as `\n`, `\t`, `\r` or
/// `\u{…}`, so a note or a payload's field cannot move the cursor, recolour the screen or forge a line. Every other
/// character (CJK included) is kept as it is.
public enum DisplayText {
    public static func safe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(u): out += "\\u{" + String(u.value, radix: 16) + "}"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    private static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x2028, 0x2029: return true
        default: return false
        }
    }
}
