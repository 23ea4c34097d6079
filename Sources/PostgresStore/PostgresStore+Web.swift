import PostgresNIO
import Model
import Store

/// What `cityeye serve` and `cityeye people` read and write (the Store target's `WebStore`), in PostgreSQL: the
/// cockpit's counted and grouped queries, the change feed's notices and people's web accounts (migration v3), with the
/// SQLite store's semantics (docs/scale.md).
extension PostgresStore: WebStore {
    public var unreadableHint: String { "check that the PostgreSQL server runs and is reachable, and the user's rights" }

    public func incidentCount(_ f: IncidentFilter) throws -> Int {
        var b = PostgresBindings()
        let rows = try read("SELECT count(*)::bigint FROM incident" + Self.whereClause(f, &b), b)
        return Int(try decode { try rows[0].int(0) })
    }

    public func scenarios(community: String, through: Int64 = .max) throws -> [String] {
        var b = PostgresBindings(); b.append(pgText(community)); b.append(through)
        let rows = try read("SELECT DISTINCT scenario FROM incident WHERE community = $1 AND id <= $2 ORDER BY scenario", b)
        return try decode { try rows.map { try $0.text(0) } }
    }

    public func newestFirstSeen(community: String) throws -> Instant? {
        var b = PostgresBindings(); b.append(pgText(community))
        let rows = try read("SELECT max(first_seen) FROM incident WHERE community = $1", b)
        return try decode { try rows[0].optionalInt(0).map(Instant.init(ms:)) }
    }

    public func raisedPerHour(community: String, start: Instant, hours: Int, through: Int64 = .max) throws -> [String: [Int]] {
        var b = PostgresBindings()
        b.append(start.ms); b.append(pgText(community)); b.append(start.ms + Int64(hours) * Durations.hour); b.append(through)
        // Bigint division truncates toward zero, as SQLite's integer division: the same hour for every incident.
        let rows = try read("""
            SELECT scenario, (first_seen - $1) / \(Durations.hour), count(*)::bigint FROM incident
            WHERE community = $2 AND first_seen >= $1 AND first_seen < $3 AND id <= $4 GROUP BY 1, 2
            """, b)
        return try decode {
            var out: [String: [Int]] = [:]
            for r in rows {
                let h = Int(try r.int(1))
                guard h >= 0 && h < hours else { continue }
                out[try r.text(0), default: Array(repeating: 0, count: hours)][h] += Int(try r.int(2))
            }
            return out
        }
    }

    public func raised(community: String, after: Int64, through: Int64) throws -> [(scenario: String, firstSeen: Instant)] {
        var b = PostgresBindings(); b.append(after); b.append(through); b.append(pgText(community))
        let rows = try read("SELECT scenario, first_seen FROM incident WHERE id > $1 AND id <= $2 AND community = $3 ORDER BY id", b)
        return try decode { try rows.map { (try $0.text(0), Instant(ms: try $0.int(1))) } }
    }

    public func workNotices(after: Int64, upTo: Int64, limit: Int = 1_000) throws -> [WorkNoticeRow] {
        let (sql, auditAt, rowAt) = Self.workNoticesSQL(incidentColumns: Self.incidentColumns, auditColumns: Self.auditColumns,
                                                         markers: ("$1", "$2", "$3"))
        var b = PostgresBindings(); b.append(after); b.append(upTo); b.append(Int64(limit))
        let rows = try read(sql, b)
        return try decode {
            try rows.reversed().map { r in
                WorkNoticeRow(row: try r.int(rowAt), entry: try Self.auditEntry(r, from: auditAt), incident: try Self.incident(r))
            }
        }
    }

    /// One statement, committed on its own; the store's write lock is not needed (an account is no incident's state).
    public func saveAccount(_ a: AccountRecord) throws {
        var b = PostgresBindings()
        b.append(pgText(a.worker)); b.append(a.passwordHash); b.append(a.setAt.ms); b.append(pgText(a.setBy))
        _ = try read("""
            INSERT INTO account (worker, password_hash, set_at, set_by) VALUES ($1, $2, $3, $4)
            ON CONFLICT (worker) DO UPDATE SET password_hash = excluded.password_hash, set_at = excluded.set_at, set_by = excluded.set_by
            """, b)
    }

    public func account(worker: String) throws -> AccountRecord? {
        var b = PostgresBindings(); b.append(pgText(worker))
        return try accounts(where: "WHERE worker = $1", b).first
    }

    public func accounts() throws -> [AccountRecord] { try accounts(where: "", PostgresBindings()) }

    private func accounts(where clause: String, _ b: PostgresBindings) throws -> [AccountRecord] {
        let rows = try read("SELECT worker, password_hash, set_at, set_by FROM account \(clause) ORDER BY worker", b)
        return try decode {
            try rows.map { AccountRecord(worker: try $0.text(0), passwordHash: try $0.text(1), setAt: Instant(ms: try $0.int(2)), setBy: try $0.text(3)) }
        }
    }
}
