import Foundation

/// Local wall-clock facts of an instant in one community's timezone.
public struct LocalTime: Hashable, Sendable {
    /// Minutes since local midnight, 0..<1440.
    public var minuteOfDay: Int
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var weekday: Int
    /// Local calendar day as days since 1970-01-01 (for "distinct local days").
    public var dayNumber: Int
    /// Offset from UTC in seconds at that instant.
    public var offsetSeconds: Int
}

/// Converts instants to local time in one IANA timezone; caches the UTC offset per hour
/// so that rules can ask on every event without calling into Foundation each time.
public final class LocalClock: @unchecked Sendable {
    public let timeZone: TimeZone
    private var offsetByHour: [Int64: Int] = [:]
    private let lock = NSLock()

    public init?(identifier: String) {
        guard let tz = TimeZone(identifier: identifier) else { return nil }
        self.timeZone = tz
    }

    /// The clock of `Community.defaultTimezone`.
    public static let standard = LocalClock(identifier: Community.defaultTimezone)!

    /// The clock of a timezone the registry loader has already checked; `Community.defaultTimezone` if it is unknown.
    public static func of(_ identifier: String) -> LocalClock {
        LocalClock(identifier: identifier) ?? standard
    }

    public func offsetSeconds(at t: Instant) -> Int {
        let hour = t.ms >= 0 ? t.ms / Durations.hour : (t.ms - Durations.hour + 1) / Durations.hour
        lock.lock(); defer { lock.unlock() }
        if let o = offsetByHour[hour] { return o }
        if offsetByHour.count > 100_000 { offsetByHour.removeAll(keepingCapacity: true) }
        let o = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(hour * 3600)))
        offsetByHour[hour] = o
        return o
    }

    public func local(_ t: Instant) -> LocalTime {
        let off = offsetSeconds(at: t)
        let localMs = t.ms + Int64(off) * 1000
        let day = localMs >= 0 ? localMs / Durations.day : (localMs - Durations.day + 1) / Durations.day
        let minute = Int((localMs - day * Durations.day) / Durations.minute)
        // 1970-01-01 was a Thursday (ISO 4).
        let wd = Int(((day % 7) + 7 + 3) % 7) + 1
        return LocalTime(minuteOfDay: minute, weekday: wd, dayNumber: Int(day), offsetSeconds: off)
    }
}
