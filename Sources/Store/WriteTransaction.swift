import Foundation
import CSQLite
import Model

/// Writes inside one `Store.writeTransaction`.
public final class WriteTransaction {
    let conn: Connection
    /// Seals appended audit rows (nil: they are written with no MAC).
    let sealer: (any AuditSealer)?
    /// The chain heads this transaction's audit rows moved, for `Store.takeCommittedAuditHeads()`.
    var sealedHeads: [String: AuditHead] = [:]
    /// Appended audit rows of notifying actions go to the webhook outbox (off for a replay).
    let enqueuesNotices: Bool
    init(conn: Connection, sealer: (any AuditSealer)? = nil, enqueuesNotices: Bool = false) {
        self.conn = conn; self.sealer = sealer; self.enqueuesNotices = enqueuesNotices
    }

    /// Full state by id; the last of several versions of one incident wins.
    public func upsert(_ incidents: [Incident]) throws {
        // Most changes are a repeat (count, last seen) of an incident whose indexed columns stay as they are: those go
        // in by an UPDATE that names no indexed column, so SQLite leaves the five indexes alone (measured: 9 pages
        // written a commit of 9 repeats instead of 53). Anything else — a new incident, a status or assignee change —
        // is an insert or an update in place of every column (REPLACE would delete and re-insert the row and all its
        // index entries).
        let narrow = try conn.statement("""
            UPDATE incident SET severity = ?, device = ?, subject = ?, grid = ?, last_seen = ?, count = ?, condition = ?,
                escalated = ?, overdue = ?, ack_due = ?, resolve_due = ?
            WHERE id = ? AND rule = ? AND key = ? AND scenario = ? AND community = ? AND first_seen = ? AND status = ?
                AND assignee = ?
            """)
        let full = try conn.statement("""
            INSERT INTO incident (\(Store.incidentColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(id) DO UPDATE SET \(Store.incidentUpdates)
            """)
        for i in incidents {
            sqlite3_reset(narrow.stmt)
            narrow.bind(1, i.severity.rawValue); narrow.bind(2, i.device); narrow.bind(3, i.subject); narrow.bind(4, i.grid)
            narrow.bind(5, i.lastSeen.ms); narrow.bind(6, i.count); narrow.bind(7, i.condition.rawValue)
            narrow.bind(8, i.escalated); narrow.bind(9, i.overdue); narrow.bind(10, i.ackDue.ms); narrow.bind(11, i.resolveDue.ms)
            narrow.bind(12, i.id); narrow.bind(13, i.rule); narrow.bind(14, i.key); narrow.bind(15, i.scenario)
            narrow.bind(16, i.community); narrow.bind(17, i.firstSeen.ms); narrow.bind(18, i.status.rawValue)
            narrow.bind(19, i.assignee)
            try narrow.run()
            if sqlite3_changes(conn.db) == 1 { continue }
            sqlite3_reset(full.stmt)
            full.bind(1, i.id); full.bind(2, i.rule); full.bind(3, i.scenario); full.bind(4, i.severity.rawValue); full.bind(5, i.key)
            full.bind(6, i.device); full.bind(7, i.subject); full.bind(8, i.community); full.bind(9, i.grid)
            full.bind(10, i.firstSeen.ms); full.bind(11, i.lastSeen.ms); full.bind(12, i.count)
            full.bind(13, i.condition.rawValue); full.bind(14, i.status.rawValue); full.bind(15, i.assignee)
            full.bind(16, i.escalated); full.bind(17, i.overdue); full.bind(18, i.ackDue.ms); full.bind(19, i.resolveDue.ms)
            try full.run()
        }
    }

    public func append(_ deadLetters: [DeadLetter]) throws {
        let s = try conn.statement("INSERT INTO dead_letter (received_at, topic, reason, detail, payload) VALUES (?,?,?,?,?)")
        for d in deadLetters {
            sqlite3_reset(s.stmt)
            s.bind(1, d.receivedAt.ms); s.bind(2, d.topic); s.bind(3, d.reason.rawValue); s.bind(4, d.detail)
            s.bind(5, blob: d.payload)
            try s.run()
        }
    }

    /// A batch of processed-id keys (bytes in key format `format`), written at event time `at`.
    public func appendProcessed(keys: [UInt8], at: Instant, format: Int) throws {
        guard !keys.isEmpty else { return }
        let s = try conn.statement("INSERT INTO processed_batch (at, keys, format) VALUES (?, ?, ?)")
        s.bind(1, at.ms); s.bind(2, blob: keys); s.bind(3, Int64(format))
        try s.run()
    }

    public func pruneProcessed(before: Instant) throws {
        let s = try conn.statement("DELETE FROM processed_batch WHERE at < ?")
        s.bind(1, before.ms)
        try s.run()
    }

    public func setState(_ name: String, _ value: [UInt8]) throws {
        let s = try conn.statement("INSERT OR REPLACE INTO engine_state (name, value) VALUES (?, ?)")
        s.bind(1, name); s.bind(2, blob: value)
        try s.run()
    }

    /// Saves rule state by key: `removed` keys deleted first, then `written` ones stored; with `replaceAll`, every key
    /// the store held is deleted first.
    public func saveRuleKeys(removed: [(rule: String, key: String)], written: [SavedRuleKey], replaceAll: Bool) throws {
        if replaceAll { try conn.exec("DELETE FROM rule_key") }
        if !removed.isEmpty {
            let s = try conn.statement("DELETE FROM rule_key WHERE rule = ? AND key = ?")
            for r in removed {
                sqlite3_reset(s.stmt)
                s.bind(1, r.rule); s.bind(2, r.key)
                try s.run()
            }
        }
        guard !written.isEmpty else { return }
        let s = try conn.statement("INSERT OR REPLACE INTO rule_key (rule, key, state) VALUES (?, ?, ?)")
        for w in written {
            sqlite3_reset(s.stmt)
            s.bind(1, w.rule); s.bind(2, w.key); s.bind(3, blob: w.state)
            try s.run()
        }
    }

    public func deleteState(_ name: String) throws {
        let s = try conn.statement("DELETE FROM engine_state WHERE name = ?")
        s.bind(1, name)
        try s.run()
    }

    public func state(_ name: String) throws -> [UInt8]? {
        let s = try conn.statement("SELECT value FROM engine_state WHERE name = ?")
        s.bind(1, name)
        return try s.step() ? s.blob(0) : nil
    }

    public func incident(id: Int64) throws -> Incident? {
        let s = try conn.statement("SELECT \(Store.incidentColumns) FROM incident WHERE id = ?")
        s.bind(1, id)
        return try s.step() ? Store.incident(s) : nil
    }

    /// The oldest incident for the same (rule, key) raised after `incident` that is not closed, if any: a reopen
    /// while it is open would make two open incidents for one (rule, key) (docs/contract.md §8).
    public func newerNotClosed(than incident: Incident) throws -> Incident? {
        let s = try conn.statement("SELECT \(Store.incidentColumns) FROM incident WHERE rule = ? AND key = ? AND id > ? AND status != 'closed' ORDER BY id LIMIT 1")
        s.bind(1, incident.rule)
        s.bind(2, incident.key)
        s.bind(3, incident.id)
        return try s.step() ? Store.incident(s) : nil
    }

    /// Incidents that people (actor other than `engine`) changed after an audit row, and the last row id.
    public func peopleChanges(afterAuditRow row: Int64) throws -> (lastRow: Int64, incidents: [Incident]) {
        // A rowid range only: with DISTINCT/ORDER BY, SQLite walks the whole (incident) index on every batch.
        let s = try conn.statement("SELECT incident FROM audit WHERE id > ? AND actor != 'engine'")
        s.bind(1, row)
        var ids = Set<Int64>()
        while try s.step() { ids.insert(s.int(0)) }
        let incidents = try ids.sorted().compactMap { try incident(id: $0) }
        return (try lastAuditRow(), incidents)
    }

    public func lastAuditRow() throws -> Int64 {
        let s = try conn.statement("SELECT COALESCE(MAX(id), 0) FROM audit")
        _ = try s.step()
        return s.int(0)
    }
}
