import CSQLite
import Model

extension Store {
    /// The id of the newest audit row, 0 for none: every change to an incident appends one, so a reader that
    /// polls this (one index look-up) knows when to re-read.
    public func lastAuditRow() throws -> Int64 {
        try read { try WriteTransaction(conn: conn).lastAuditRow() }
    }
}

/// An audit row that gives a person work, with its incident as it is now (for the pages' pop-up notices).
public struct WorkNoticeRow: Sendable, Equatable {
    public var row: Int64
    public var entry: AuditEntry
    public var incident: Incident
}

extension Store {
    /// The audit actions that give someone work: dispatched (raised, to the assignee), escalated (to the
    /// community's supervisor), reopened (back to the assignee).
    public static let workActions: [AuditAction] = [.dispatched, .escalated, .reopened]

    /// The latest `limit` audit rows in (`after`, `upTo`] whose action is one of `workActions`, oldest first. A row-id
    /// range: it reads only the rows written since the last look.
    public func workNotices(after: Int64, upTo: Int64, limit: Int = 1_000) throws -> [WorkNoticeRow] {
        let columns = Self.incidentColumns.split(separator: ",").map { "i." + $0.trimmingCharacters(in: .whitespaces) }
        let audit = Self.auditColumns.split(separator: ",").map { "a." + $0.trimmingCharacters(in: .whitespaces) }
        let actions = Self.workActions.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let sql = "SELECT \((columns + audit).joined(separator: ", ")), a.id FROM audit a JOIN incident i ON i.id = a.incident "
            + "WHERE a.id > ? AND a.id <= ? AND a.action IN (\(actions)) ORDER BY a.id DESC LIMIT ?"
        return try read {
            let s = try conn.statement(sql)
            s.bind(1, after); s.bind(2, upTo); s.bind(3, limit)
            var out: [WorkNoticeRow] = []
            let auditAt = Int32(columns.count)
            while try s.step() {
                out.append(WorkNoticeRow(row: s.int(auditAt + Int32(audit.count)), entry: Self.auditEntry(s, from: auditAt),
                                         incident: Self.incident(s)))
            }
            return Array(out.reversed())
        }
    }
}
