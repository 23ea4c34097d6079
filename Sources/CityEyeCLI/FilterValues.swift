import ArgumentParser
import Foundation
import Model

/// What the listing filters accept: the values the tables print as well as the contract's names.
enum FilterValues {
    /// `critical`/`major`/`minor`, or what the SEV column prints (`CRIT`, `MAJ`, `min`), in any case.
    static func severity(_ s: String) throws -> Severity {
        switch s.lowercased() {
        case "critical", "crit": return .critical
        case "major", "maj": return .major
        case "minor", "min": return .minor
        default: throw ValidationError("--severity \(s): use critical (CRIT), major (MAJ) or minor (min)")
        }
    }

    /// A status, or `open`: every status but closed.
    enum StatusFilter: Equatable { case exactly(IncidentStatus), notClosed }

    static func status(_ s: String) throws -> StatusFilter {
        if s.lowercased() == "open" { return .notClosed }
        guard let st = IncidentStatus(rawValue: s.lowercased()) else {
            throw ValidationError("--status \(s): use dispatched, acknowledged, resolved, closed, or open (all but closed)")
        }
        return .exactly(st)
    }

    /// `--since`: an RFC 3339 time, a local date (`2026-11-24`, midnight in `clock`'s timezone), or a duration back
    /// from `now` (`30m`, `2h`, `7d`).
    static func since(_ s: String, now: Instant, clock: LocalClock) throws -> Instant {
        if let t = RFC3339.parse(s) { return t }
        let units: [(Character, Millis)] = [("s", Durations.second), ("m", Durations.minute), ("h", Durations.hour),
                                            ("d", Durations.day), ("w", 7 * Durations.day)]
        if let last = s.last, let unit = units.first(where: { $0.0 == last })?.1, let n = Int64(s.dropLast()), n >= 0 {
            return now - n * unit
        }
        let parts = s.split(separator: "-")
        if parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
           (1...12).contains(m), (1...31).contains(d), parts[0].count == 4 {
            let day = RFC3339.daysFromCivil(year: y, month: m, day: d)
            let localMidnight = Instant(ms: Int64(day) * Durations.day)
            // The offset at that instant is right except within hours of a DST change; read it again there.
            let first = localMidnight - Millis(clock.offsetSeconds(at: localMidnight)) * 1000
            return localMidnight - Millis(clock.offsetSeconds(at: first)) * 1000
        }
        throw ValidationError("--since \(s): use a time (2026-11-24T18:00:00+08:00), a date (2026-11-24) or a duration back from now (30m, 2h, 7d)")
    }
}
