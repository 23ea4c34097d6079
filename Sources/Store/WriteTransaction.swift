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
        // An update in place when the incident exists (REPLACE would delete and re-insert the row and all its
        // index entries for every change of its count).
        let s = try conn.statement("""
            INSERT INTO incident (\(Store.incidentColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(id) DO UPDATE SET \(Store.incidentUpdates)
            """)
        for i in incidents {
            sqlite3_reset(s.stmt)
            s.bind(1, i.id); s.bind(2, i.rule); s.bind(3, i.scenario); s.bind(4, i.severity.rawValue); s.bind(5, i.key)
            s.bind(6, i.device); s.bind(7, i.subject); s.bind(8, i.community); s.bind(9, i.grid)
            s.bind(10, i.firstSeen.ms); s.bind(11, i.lastSeen.ms); s.bind(12, i.count)
            s.bind(13, i.condition.rawValue); s.bind(14, i.status.rawValue); s.bind(15, i.assignee)
            s.bind(16, i.escalated); s.bind(17, i.overdue); s.bind(18, i.ackDue.ms); s.bind(19, i.resolveDue.ms)
            try s.run()
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
