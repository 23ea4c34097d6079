import CSQLite
import Model

/// Where a change waiting in the webhook outbox stands.
public enum OutboxState: String, CaseIterable, Sendable {
    /// Not yet delivered; tried again at `next_at`.
    case pending
    /// A 2xx answer came back.
    case delivered
    /// Every attempt failed (or it waited past the outbox's age limit): `last_error` says why.
    case failed
    /// No webhook for its community in the running config: nobody to send it to.
    case dropped
}

/// One row of the webhook outbox.
public struct OutboxEntry: Sendable, Equatable {
    /// The audit row that recorded the change (the delivery id is made from it).
    public var id: Int64
    public var community: String
    /// The JSON body, sent as is on every attempt.
    public var body: String
    public var createdAt: Instant
    public var state: OutboxState
    public var attempts: Int
    public var nextAt: Instant
    public var lastError: String
    public var doneAt: Instant?

    public init(id: Int64, community: String, body: String, createdAt: Instant, state: OutboxState, attempts: Int,
                nextAt: Instant, lastError: String, doneAt: Instant?) {
        self.id = id; self.community = community; self.body = body; self.createdAt = createdAt; self.state = state
        self.attempts = attempts; self.nextAt = nextAt; self.lastError = lastError; self.doneAt = doneAt
    }
}

/// What one delivery attempt (or the sender's decision) did to an outbox row.
public enum OutboxOutcome: Sendable, Equatable {
    case delivered(attempts: Int, at: Instant)
    case retry(attempts: Int, next: Instant, error: String)
    case failed(attempts: Int, error: String, at: Instant)
    case dropped(reason: String, at: Instant)
}

extension WriteTransaction {
    /// Puts the rows of notifying actions (`IncidentNotice.actions`) whose chain (the incident's community) has a
    /// webhook target into the outbox, in the transaction that appends them. The incident is read as it is now in
    /// this transaction (written before its audit rows, by the engine and by people's actions alike).
    func enqueueNotices(_ rows: [AuditRow]) throws {
        guard rows.contains(where: { IncidentNotice.actions.contains($0.entry.action) }) else { return }
        let targets = try webhookTargets()
        guard !targets.isEmpty else { return }
        let all = targets.contains(Store.anyCommunity)
        let s = try conn.statement("INSERT OR IGNORE INTO webhook_outbox (id, community, body, created_at, next_at) VALUES (?, ?, ?, ?, ?)")
        for r in rows where IncidentNotice.actions.contains(r.entry.action) && (all || targets.contains(r.chain)) {
            guard let incident = try incident(id: r.entry.incident) else { continue }
            sqlite3_reset(s.stmt)
            s.bind(1, r.id); s.bind(2, incident.community)
            s.bind(3, IncidentNotice.body(auditRow: r.id, entry: r.entry, incident: incident))
            s.bind(4, r.entry.at.ms); s.bind(5, r.entry.at.ms)
            try s.run()
        }
    }

    func webhookTargets() throws -> Set<String> {
        let s = try conn.statement("SELECT community FROM webhook_target")
        var out = Set<String>()
        while try s.step() { out.insert(s.text(0)) }
        return out
    }
}

extension Store {
    /// The target that stands for every community.
    public static let anyCommunity = "*"

    /// Replaces the communities whose changes are put into the outbox (`cityeye run` at its start, from its config).
    public func setWebhookTargets(_ communities: [String]) throws {
        try writeTransaction { tx in
            try tx.conn.exec("DELETE FROM webhook_target")
            let s = try tx.conn.statement("INSERT OR IGNORE INTO webhook_target (community) VALUES (?)")
            for c in communities {
                sqlite3_reset(s.stmt)
                s.bind(1, c)
                try s.run()
            }
        }
    }

    public func webhookTargets() throws -> Set<String> {
        try read { try WriteTransaction(conn: conn).webhookTargets() }
    }

    static let outboxColumns = "id, community, body, created_at, state, attempts, next_at, last_error, done_at"

    static func outboxEntry(_ s: Statement) -> OutboxEntry {
        OutboxEntry(id: s.int(0), community: s.text(1), body: s.text(2), createdAt: Instant(ms: s.int(3)),
                    state: OutboxState(rawValue: s.text(4)) ?? .pending, attempts: Int(s.int(5)),
                    nextAt: Instant(ms: s.int(6)), lastError: s.text(7), doneAt: s.isNull(8) ? nil : Instant(ms: s.int(8)))
    }

    /// Pending rows due at `now`, oldest due first, at most `limit`.
    public func dueNotices(at now: Instant, limit: Int) throws -> [OutboxEntry] {
        try read {
            let s = try conn.statement("SELECT \(Self.outboxColumns) FROM webhook_outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?")
            s.bind(1, now.ms); s.bind(2, limit)
            var out: [OutboxEntry] = []
            while try s.step() { out.append(Self.outboxEntry(s)) }
            return out
        }
    }

    /// The earliest `next_at` of a pending row, if any.
    public func nextNoticeDue() throws -> Instant? {
        try read {
            let s = try conn.statement("SELECT min(next_at) FROM webhook_outbox WHERE state = 'pending'")
            _ = try s.step()
            return s.isNull(0) ? nil : Instant(ms: s.int(0))
        }
    }

    /// Every outbox row, by id (for `cityeye status` and tests).
    public func outbox() throws -> [OutboxEntry] {
        try read {
            let s = try conn.statement("SELECT \(Self.outboxColumns) FROM webhook_outbox ORDER BY id")
            var out: [OutboxEntry] = []
            while try s.step() { out.append(Self.outboxEntry(s)) }
            return out
        }
    }

    public func outboxCounts() throws -> [OutboxState: Int] {
        try read {
            let s = try conn.statement("SELECT state, count(*) FROM webhook_outbox GROUP BY state")
            var out: [OutboxState: Int] = [:]
            while try s.step() { if let st = OutboxState(rawValue: s.text(0)) { out[st] = Int(s.int(1)) } }
            return out
        }
    }

    /// Records what became of a pending row (a row no longer pending is left as it is).
    public func record(_ outcome: OutboxOutcome, for id: Int64) throws { try record([(id, outcome)]) }

    /// Records what became of pending rows, in one write transaction (a sender's pass takes the store's write lock
    /// once, however many rows it sent).
    public func record(_ outcomes: [(id: Int64, outcome: OutboxOutcome)]) throws {
        guard !outcomes.isEmpty else { return }
        try writeTransaction { tx in
            let s = try tx.conn.statement("UPDATE webhook_outbox SET state = ?, attempts = coalesce(?, attempts), next_at = ?, last_error = ?, done_at = ? WHERE id = ? AND state = 'pending'")
            for (id, outcome) in outcomes {
                sqlite3_reset(s.stmt)
                switch outcome {
                case .delivered(let attempts, let at):
                    s.bind(1, OutboxState.delivered.rawValue); s.bind(2, attempts); s.bind(3, at.ms); s.bind(4, ""); s.bind(5, at.ms)
                case .retry(let attempts, let next, let error):
                    s.bind(1, OutboxState.pending.rawValue); s.bind(2, attempts); s.bind(3, next.ms); s.bind(4, error)
                    sqlite3_bind_null(s.stmt, 5)
                case .failed(let attempts, let error, let at):
                    s.bind(1, OutboxState.failed.rawValue); s.bind(2, attempts); s.bind(3, at.ms); s.bind(4, error); s.bind(5, at.ms)
                case .dropped(let reason, let at):
                    s.bind(1, OutboxState.dropped.rawValue); sqlite3_bind_null(s.stmt, 2); s.bind(3, at.ms); s.bind(4, reason); s.bind(5, at.ms)
                }
                s.bind(6, id)
                try s.run()
            }
        }
    }

    /// Bounded retention: rows delivered, failed or dropped before `doneBefore` are deleted; rows still pending that
    /// were created before `pendingBefore` are marked failed (`expired`). Returns (deleted, expired).
    @discardableResult
    public func pruneOutbox(doneBefore: Instant, pendingBefore: Instant, now: Instant) throws -> (deleted: Int, expired: Int) {
        try writeTransaction { tx in
            let expire = try tx.conn.statement("UPDATE webhook_outbox SET state = 'failed', last_error = ?, done_at = ? WHERE state = 'pending' AND created_at < ?")
            expire.bind(1, "expired: still undelivered when the outbox's age limit was reached")
            expire.bind(2, now.ms); expire.bind(3, pendingBefore.ms)
            try expire.run()
            let expired = Int(sqlite3_changes(tx.conn.db))
            let delete = try tx.conn.statement("DELETE FROM webhook_outbox WHERE state IN ('delivered', 'failed', 'dropped') AND done_at < ?")
            delete.bind(1, doneBefore.ms)
            try delete.run()
            return (Int(sqlite3_changes(tx.conn.db)), expired)
        }
    }
}
