import CSQLite
import Model

extension WriteTransaction {
    /// Appends audit rows with explicit ids (after the largest), each in the chain `chains[i]` (its incident's
    /// community) and, with a sealer, its MAC chained to the chain's head; the heads move in the same transaction.
    /// `chains` nil: each row's chain is read from its incident (a look-up per row: the engine passes them).
    /// Returns the last row id.
    @discardableResult
    public func append(_ audit: [AuditEntry], chains: [String]? = nil) throws -> Int64 {
        let first = try lastAuditRow() + 1
        guard !audit.isEmpty else { return first - 1 }
        let chains = try chains ?? audit.map { try incident(id: $0.incident)?.community ?? "" }
        let (rows, moved) = try AuditRow.appending(audit, chains: chains, first: first, sealer: sealer, heads: heads(of:))
        if !moved.isEmpty {
            try saveHeads(moved)
            sealedHeads.merge(moved) { $1 }
        }
        try insert(rows)
        if enqueuesNotices { try enqueueNotices(rows) }
        return rows[rows.count - 1].id
    }

    /// Rows go in 64 to a statement: one statement per row cost about 2 us each, mostly per-statement work.
    private func insert(_ rows: [AuditRow]) throws {
        let (perStatement, columns) = (AuditInsert.perStatement, AuditInsert.columns)
        let many = try conn.statement(AuditInsert.many)
        let one = try conn.statement(AuditInsert.one)
        var from = 0
        while from < rows.count {
            let n = rows.count - from >= perStatement ? perStatement : 1
            let s = n == perStatement ? many : one
            sqlite3_reset(s.stmt)
            for (k, r) in rows[from..<(from + n)].enumerated() {
                let p = Int32(k * columns)
                let a = r.entry
                s.bind(p + 1, r.id); s.bind(p + 2, r.chain)
                if r.mac.isEmpty { sqlite3_bind_null(s.stmt, p + 3) } else { s.bind(p + 3, blob: r.mac) }
                s.bind(p + 4, a.incident); s.bind(p + 5, a.at.ms); s.bind(p + 6, a.actor)
                s.bind(p + 7, a.action.rawValue); s.bind(p + 8, a.note)
                s.bind(p + 9, a.channel.rawValue); s.bind(p + 10, a.osUser)
            }
            try s.run()
            from += n
        }
    }

    /// The recorded heads of `chains` (a chain with no sealed row yet is absent).
    func heads(of chains: Set<String>) throws -> [String: AuditHead] {
        let s = try conn.statement("SELECT row, mac FROM audit_head WHERE chain = ?")
        var out: [String: AuditHead] = [:]
        for c in chains {
            sqlite3_reset(s.stmt)
            s.bind(1, c)
            if try s.step() { out[c] = AuditHead(row: s.int(0), mac: s.blob(1)) }
        }
        return out
    }

    private func saveHeads(_ heads: [String: AuditHead]) throws {
        let s = try conn.statement("INSERT OR REPLACE INTO audit_head (chain, row, mac) VALUES (?, ?, ?)")
        for (chain, h) in heads {
            sqlite3_reset(s.stmt)
            s.bind(1, chain); s.bind(2, h.row); s.bind(3, blob: h.mac)
            try s.run()
        }
    }
}

/// The audit insert's statements, made once: the statement cache is keyed by their text, and building and hashing
/// the 64-row text for every commit showed in the live engine's profile.
private enum AuditInsert {
    static let perStatement = 64
    static let columns = 10
    static let tuple = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
    static let prefix = "INSERT INTO audit (id, chain, mac, \(Store.auditColumns)) VALUES "
    static let many = prefix + Array(repeating: tuple, count: perStatement).joined(separator: ",")
    static let one = prefix + tuple
}
