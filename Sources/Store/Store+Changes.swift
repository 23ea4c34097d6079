import CSQLite
import Model

extension Store {
    /// The id of the newest audit row, 0 for none: every change to an incident appends one, so a reader that
    /// polls this (one index look-up) knows when to re-read.
    public func lastAuditRow() throws -> Int64 {
        try read { try WriteTransaction(conn: conn).lastAuditRow() }
    }
}

extension Store {
    /// The latest `limit` audit rows in (`after`, `upTo`] whose action is one of `workActions`, oldest first. A row-id
    /// range: it reads only the rows written since the last look.
    public func workNotices(after: Int64, upTo: Int64, limit: Int = 1_000) throws -> [WorkNoticeRow] {
        let (sql, auditAt, rowAt) = Self.workNoticesSQL(incidentColumns: Self.incidentColumns, auditColumns: Self.auditColumns,
                                                         markers: ("?", "?", "?"))
        return try read {
            let s = try conn.statement(sql)
            s.bind(1, after); s.bind(2, upTo); s.bind(3, limit)
            var out: [WorkNoticeRow] = []
            while try s.step() {
                out.append(WorkNoticeRow(row: s.int(Int32(rowAt)), entry: Self.auditEntry(s, from: Int32(auditAt)), incident: Self.incident(s)))
            }
            return Array(out.reversed())
        }
    }
}
