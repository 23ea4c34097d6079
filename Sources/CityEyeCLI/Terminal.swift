import Foundation
import Model

/// Output helpers: stderr, colour (only on a TTY, never with NO_COLOR), display width for CJK text.
enum Terminal {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("cityeye: \(message)\n".utf8))
    }

    /// Text from the store or a payload as a terminal may show it (`DisplayText.safe`). Not for `--json`, which
    /// keeps the exact text.
    static func safe(_ s: String) -> String { DisplayText.safe(s) }

    static func status(_ line: String) {
        FileHandle.standardError.write(Data(line.utf8))
    }

    static var stderrIsTTY: Bool { isatty(2) == 1 }

    static let useColour: Bool = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        && ProcessInfo.processInfo.environment["TERM"] != "dumb"

    static func colour(_ s: String, _ code: String) -> String { useColour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    static func severity(_ s: Severity) -> String {
        switch s {
        case .critical: return colour("CRIT", "1;31")
        case .major: return colour("MAJ", "33")
        case .minor: return colour("min", "36")
        }
    }

    /// Columns a string takes on a terminal: East Asian wide and fullwidth characters take two,
    /// combining marks and ANSI colour sequences none.
    static func width(_ s: String) -> Int {
        var w = 0
        var inEscape = false
        for u in s.unicodeScalars {
            let v = u.value
            if inEscape { if v == 0x6D { inEscape = false }; continue }
            if v == 0x1B { inEscape = true; continue }
            switch v {
            case 0x0300...0x036F, 0x200B...0x200F, 0xFE00...0xFE0F: continue
            case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
                 0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
                 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
                w += 2
            default:
                w += 1
            }
        }
        return w
    }

    static func pad(_ s: String, _ width: Int) -> String {
        let w = Self.width(s)
        return w >= width ? s : s + String(repeating: " ", count: width - w)
    }

    /// An aligned table; the last column is not padded. With `fit`, columns in `shrinkable` are cut (ending in `…`)
    /// so that a row fits in `fit` columns; the widest is cut first, none below 6.
    static func table(_ header: [String], _ rows: [[String]], fit: Int? = nil, shrinkable: Set<Int> = []) -> String {
        var widths = header.map(width)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], width(c)) } }
        if let fit {
            let minimum = 6
            var total = widths.reduce(0, +) + 2 * (widths.count - 1)
            while total > fit, let i = shrinkable.filter({ widths[$0] > minimum }).max(by: { widths[$0] < widths[$1] }) {
                widths[i] -= 1
                total -= 1
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let cell = shrinkable.contains(i) && width(c) > widths[i] ? cut(c, to: widths[i]) : c
                return i == cells.count - 1 ? cell : pad(cell, widths[i])
            }.joined(separator: "  ")
        }
        return ([line(header.map { colour($0, "1") })] + rows.map(line)).joined(separator: "\n")
    }

    /// `s` cut to `width` terminal columns, its last one `…`.
    static func cut(_ s: String, to width: Int) -> String {
        var out = "", w = 0
        for ch in s {
            let cw = Self.width(String(ch))
            if w + cw > width - 1 { break }
            out.append(ch)
            w += cw
        }
        return out + "…"
    }

    /// The width of the terminal standard output goes to; nil when it is not a terminal (a pipe, a file: scripts
    /// get every character).
    static var outputColumns: Int? {
        guard isatty(1) == 1 else { return nil }
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) }
    }
}

/// One JSON object on one line with keys in the order added (byte-stable output for scripts and diffs).
struct JSONLine {
    private var parts: [String] = []

    mutating func add(_ key: String, _ value: String?) { parts.append("\(Self.quote(key)):\(value.map(Self.quote) ?? "null")") }
    mutating func add(_ key: String, _ value: Int64) { parts.append("\(Self.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Int) { parts.append("\(Self.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Bool) { parts.append("\(Self.quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Instant?) { add(key, value.map { $0.description }) }
    mutating func addRaw(_ key: String, _ json: String) { parts.append("\(Self.quote(key)):\(json)") }

    var text: String { "{" + parts.joined(separator: ",") + "}" }

    static func quote(_ s: String) -> String { JSONText.quoted(s) }
}
