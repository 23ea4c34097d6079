import CSQLite
import Model

extension Store {
    /// Every audit row with its chain and MAC, in id order, read in one snapshot and handed over one at a time (a
    /// city's trail does not fit in memory at once). `body` returns false to stop early.
    public func forEachAuditRow(_ body: (AuditRow) throws -> Bool) throws {
        try read {
            let s = try conn.statement("SELECT id, chain, mac, \(Self.auditColumns) FROM audit ORDER BY id")
            while try s.step() {
                let row = AuditRow(id: s.int(0), chain: s.text(1), entry: Self.auditEntry(s, from: 3), mac: s.blob(2))
                guard try body(row) else { return }
            }
        }
    }

    /// Each chain's last sealed row as the store recorded it (`audit_head`).
    public func auditHeads() throws -> [String: AuditHead] {
        try read {
            let s = try conn.statement("SELECT chain, row, mac FROM audit_head")
            var out: [String: AuditHead] = [:]
            while try s.step() { out[s.text(0)] = AuditHead(row: s.int(1), mac: s.blob(2)) }
            return out
        }
    }
}
