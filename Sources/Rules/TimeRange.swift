import Foundation

/// "HH:MM-HH:MM": [start, end) in minutes of the local day; wraps midnight when end ≤ start.
struct TimeRange {
    var start: Int, end: Int
    init?(_ s: String) {
        let parts = s.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let a = Self.minutes(parts[0]), let b = Self.minutes(parts[1]) else { return nil }
        start = a; end = b
    }
    static func minutes(_ s: String) -> Int? {
        let hm = s.split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1440 else { return nil }
        return h * 60 + m
    }
    func contains(minuteOfDay m: Int) -> Bool {
        start < end ? (m >= start && m < end) : (m >= start || m < end)
    }
}
