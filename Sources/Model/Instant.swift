/// A point in time: milliseconds since the Unix epoch, UTC.
/// Event time and wall time are both `Instant`s; nothing in the core reads a clock itself.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var ms: Int64

    public init(ms: Int64) { self.ms = ms }

    public static func < (a: Instant, b: Instant) -> Bool { a.ms < b.ms }
    public static func + (a: Instant, d: Millis) -> Instant { Instant(ms: a.ms + d) }
    public static func - (a: Instant, d: Millis) -> Instant { Instant(ms: a.ms - d) }
    public static func - (a: Instant, b: Instant) -> Millis { a.ms - b.ms }

    /// RFC 3339 in UTC with `Z` and milliseconds: `2026-11-24T00:15:30.120Z`.
    public var description: String { RFC3339.format(self) }
}

/// A duration in milliseconds.
public typealias Millis = Int64

public enum Durations {
    public static let second: Millis = 1_000
    public static let minute: Millis = 60_000
    public static let hour: Millis = 3_600_000
    public static let day: Millis = 86_400_000

    /// `30d`, `2h5m`, `45s`, `250ms`: how people write durations here (rule files, `--max-jump`).
    public static func describe(_ d: Millis) -> String {
        if d == 0 { return "0s" }
        var rest = abs(d), out = d < 0 ? "-" : ""
        for (unit, name) in [(day, "d"), (hour, "h"), (minute, "m"), (second, "s")] where rest >= unit {
            out += "\(rest / unit)\(name)"
            rest %= unit
        }
        if rest > 0 { out += "\(rest)ms" }
        return out
    }

    /// The longest duration a rule or config may name: 100 years.
    public static let longest: Millis = 36_500 * day

    /// Reads `describe`'s forms and single-unit ones (`1.5h`); nil for anything else, or longer than `longest`.
    public static func parse(_ text: String) -> Millis? {
        let units: [(String, Millis)] = [("ms", 1), ("s", second), ("min", minute), ("m", minute), ("h", hour), ("d", day)]
        var rest = Substring(text).drop { $0 == " " }
        while rest.last == " " { rest = rest.dropLast() }
        var total: Millis = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(number.count).drop { $0 == " " }
            guard let n = Double(number), n >= 0,
                  let (suffix, unit) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(suffix.count)
            // Past `longest` (or not a number at all) is no duration: found by the fuzzer as a crash in a rule's `for:`.
            let part = (n * Double(unit)).rounded()
            guard part <= Double(longest) else { return nil }
            total += Millis(part)
            guard total <= longest else { return nil }
        }
        return total
    }
}

/// Fixed-format RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
/// Hand-written because Foundation's formatters are too slow for the ingest path.
public enum RFC3339 {
    /// Parses a timestamp; nil if it is not RFC 3339 with an offset or `Z`.
    /// Fractions beyond milliseconds are truncated.
    public static func parse(_ s: String) -> Instant? {
        var s = s
        return s.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    public static func parse(_ b: UnsafeRawBufferPointer) -> Instant? {
        let n = b.count
        guard n >= 20 else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int? {
            let c = b[i]
            return (c >= 48 && c <= 57) ? Int(c - 48) : nil
        }
        @inline(__always) func num(_ i: Int, _ len: Int) -> Int? {
            var v = 0
            for k in i..<(i + len) { guard let d = digit(k) else { return nil }; v = v * 10 + d }
            return v
        }
        guard let year = num(0, 4), b[4] == 45, let month = num(5, 2), b[7] == 45, let day = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32,
              let hour = num(11, 2), b[13] == 58, let minute = num(14, 2), b[16] == 58, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60 else { return nil }
        var i = 19
        var millis = 0
        if i < n && b[i] == 46 {  // '.'
            i += 1
            let start = i
            while i < n, let d = digit(i) {
                if i - start < 3 { millis = millis * 10 + d }
                i += 1
            }
            let digits = i - start
            guard digits > 0 else { return nil }
            if digits == 1 { millis *= 100 } else if digits == 2 { millis *= 10 }
        }
        guard i < n else { return nil }
        var offsetMinutes = 0
        if b[i] == 90 || b[i] == 122 {  // 'Z' / 'z'
            i += 1
        } else if b[i] == 43 || b[i] == 45 {  // '+' / '-'
            guard n - i >= 6, let oh = num(i + 1, 2), b[i + 3] == 58, let om = num(i + 4, 2),
                  oh <= 23, om <= 59 else { return nil }
            offsetMinutes = (oh * 60 + om) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == n else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetMinutes * 60)
        return Instant(ms: secs * 1000 + Int64(millis))
    }

    /// Formats in UTC with `Z` and exactly three fraction digits.
    public static func format(_ t: Instant) -> String {
        let ms = t.ms
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let rem = ms - days * 86_400_000
        let (y, m, d) = civilFromDays(Int(days))
        days = 0
        let secOfDay = Int(rem / 1000), milli = Int(rem % 1000)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2)).\(pad(milli, 3))Z"
    }

    /// Formats with a fixed UTC offset in seconds (local time), e.g. `2026-11-24 08:15:30`.
    public static func formatLocal(_ t: Instant, offsetSeconds: Int, withSeconds: Bool = true) -> String {
        let ms = t.ms + Int64(offsetSeconds) * 1000
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let rem = ms - days * 86_400_000
        let (y, m, d) = civilFromDays(Int(days))
        let s = Int(rem / 1000)
        let hm = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(s / 3600, 2)):\(pad(s / 60 % 60, 2))"
        return withSeconds ? hm + ":\(pad(s % 60, 2))" : hm
    }

    public static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
