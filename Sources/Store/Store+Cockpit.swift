import Model

/// What the supervisors' cockpit reads, counted and grouped by SQLite instead of loading a community's every
/// incident (a week of a city is tens of thousands). Migration v10's indexes serve these queries.
extension Store {
    /// The scenarios that have incidents in `community` (those with an id up to `through`).
    public func scenarios(community: String, through: Int64 = .max) throws -> [String] {
        try read {
            let s = try conn.statement("SELECT DISTINCT scenario FROM incident WHERE community = ? AND id <= ? ORDER BY scenario")
            s.bind(1, community)
            s.bind(2, through)
            var out: [String] = []
            while try s.step() { out.append(s.text(0)) }
            return out
        }
    }

    /// When the newest incident of `community` was first seen (nil: it has none).
    public func newestFirstSeen(community: String) throws -> Instant? {
        try read {
            let s = try conn.statement("SELECT max(first_seen) FROM incident WHERE community = ?")
            s.bind(1, community)
            _ = try s.step()
            return s.isNull(0) ? nil : Instant(ms: s.int(0))
        }
    }

    /// Incidents of `community` first seen in [start, start + hours h), counted per scenario and hour (index 0: the
    /// hour from `start`); only those with an id up to `through`.
    public func raisedPerHour(community: String, start: Instant, hours: Int, through: Int64 = .max) throws -> [String: [Int]] {
        try read {
            let s = try conn.statement("""
                SELECT scenario, (first_seen - ?1) / \(Durations.hour), count(*) FROM incident
                WHERE community = ?2 AND first_seen >= ?1 AND first_seen < ?3 AND id <= ?4 GROUP BY 1, 2
                """)
            s.bind(1, start.ms)
            s.bind(2, community)
            s.bind(3, start.ms + Int64(hours) * Durations.hour)
            s.bind(4, through)
            var out: [String: [Int]] = [:]
            while try s.step() {
                let h = Int(s.int(1))
                guard h >= 0 && h < hours else { continue }
                out[s.text(0), default: Array(repeating: 0, count: hours)][h] += Int(s.int(2))
            }
            return out
        }
    }

    /// Scenario and first-seen time of the incidents of `community` with an id in (after, through], by id.
    public func raised(community: String, after: Int64, through: Int64) throws -> [(scenario: String, firstSeen: Instant)] {
        try read {
            let s = try conn.statement("SELECT scenario, first_seen FROM incident WHERE id > ? AND id <= ? AND community = ? ORDER BY id")
            s.bind(1, after)
            s.bind(2, through)
            s.bind(3, community)
            var out: [(scenario: String, firstSeen: Instant)] = []
            while try s.step() { out.append((s.text(0), Instant(ms: s.int(1)))) }
            return out
        }
    }
}
