import Foundation
import CSQLite
import Model

/// A read-only connection of its own to a store's audit trail, for checking the chains beside a running engine. A
/// WAL reader never waits for the engine's commits nor holds them up; rows are read a bounded number per read
/// transaction, so a city's trail does not pin one snapshot (and the log behind it) for the whole check.
public final class AuditTrailReader {
    public let path: String
    private let conn: Connection

    public init(path: String, busyTimeoutMs: Int = 10_000) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError("no store at \(path): run `cityeye replay` or `cityeye run` first", code: .missing)
        }
        self.path = path
        conn = try Connection(path: path, create: false, readOnly: true)
        do { try conn.exec("PRAGMA busy_timeout = \(max(0, busyTimeoutMs))") } catch { conn.close(); throw error }
    }

    public func close() { conn.close() }

    /// Where the trail stands now, in one snapshot: each chain's recorded head (`audit_head`) and the last row id.
    /// Rows are only appended, with ids above every committed one, so the rows up to `lastRow` are those heads' rows.
    public func bounds() throws(StoreError) -> (heads: [String: AuditHead], lastRow: Int64) {
        try read { () throws(StoreError) in
            let h = try conn.statement("SELECT chain, row, mac FROM audit_head")
            var heads: [String: AuditHead] = [:]
            while try h.step() { heads[h.text(0)] = AuditHead(row: h.int(1), mac: h.blob(2)) }
            let m = try conn.statement("SELECT COALESCE(MAX(id), 0) FROM audit")
            _ = try m.step()
            return (heads, m.int(0))
        }
    }

    /// At most `limit` rows with ids in (`after`, `upTo`], in id order.
    public func rows(after: Int64, upTo: Int64, limit: Int) throws(StoreError) -> [AuditRow] {
        try read { () throws(StoreError) in
            let s = try conn.statement("SELECT id, chain, mac, \(Store.auditColumns) FROM audit WHERE id > ? AND id <= ? ORDER BY id LIMIT ?")
            s.bind(1, after); s.bind(2, upTo); s.bind(3, max(1, limit))
            var out: [AuditRow] = []
            while try s.step() { out.append(AuditRow(id: s.int(0), chain: s.text(1), entry: Store.auditEntry(s, from: 3), mac: s.blob(2))) }
            return out
        }
    }

    private func read<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try conn.exec("BEGIN")
        defer { conn.resetAll(); try? conn.exec("COMMIT") }
        return try body()
    }
}
