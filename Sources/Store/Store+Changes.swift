import CSQLite
import Model

extension Store {
    /// The id of the newest audit row, 0 for none: every change to an incident appends one, so a reader that
    /// polls this (one index look-up) knows when to re-read.
    public func lastAuditRow() throws -> Int64 {
        try read { try WriteTransaction(conn: conn).lastAuditRow() }
    }
}
