import CSQLite
import Model

/// The dead letters' budget in the store (docs/contract.md §3): the per-(reason, topic) counts of every rejected
/// message, and the retention (age, total payload bytes) that deletes old dead letters but never their counts.
extension WriteTransaction {
    /// Adds counts to `dead_letter_count`, in the batch's own transaction (so a replay cut short counts nothing twice).
    public func add(_ counts: [DeadLetterCount]) throws {
        let s = try conn.statement("""
            INSERT INTO dead_letter_count (reason, topic, count, first_at, last_at) VALUES (?,?,?,?,?)
            ON CONFLICT(reason, topic) DO UPDATE SET count = count + excluded.count,
                first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)
            """)
        for c in counts {
            sqlite3_reset(s.stmt)
            s.bind(1, c.reason.rawValue); s.bind(2, c.topic); s.bind(3, c.count); s.bind(4, c.firstAt.ms); s.bind(5, c.lastAt.ms)
            try s.run()
        }
    }

    /// Deletes dead letters received before `before`, oldest first, then, while the table holds more than
    /// `maxPayloadBytes` of payload, the oldest kept (by row: the order they were kept in). One pass deletes at most
    /// `limit`'s rows and payload bytes, so that over a store that holds millions it stays short; `complete` is false
    /// when the limit stopped it: run it again soon.
    public func pruneDeadLetters(receivedBefore before: Instant, maxPayloadBytes: Int, limit: DeadLetterPruneLimit) throws
        -> (deleted: Int, complete: Bool) {
        var pass = DeadLetterPrunePass(limit: limit)
        // length() reads a blob's size from its row, not the blob: walking candidates costs a page per few rows.
        let old = try conn.statement("SELECT id, length(payload) FROM dead_letter WHERE received_at < ? ORDER BY received_at")
        old.bind(1, before.ms)
        try pass.collect(while: { _ in true }, next: { try old.step() ? (old.int(0), Int(old.int(1))) : nil })
        sqlite3_reset(old.stmt)
        try delete(&pass)
        if !pass.full {
            let over = try deadLetterTotal().payloadBytes - maxPayloadBytes
            if over > 0 {
                let oldest = try conn.statement("SELECT id, length(payload) FROM dead_letter ORDER BY id")
                let bytesBefore = pass.bytes
                try pass.collect(while: { p in p.bytes - bytesBefore < over },
                                 next: { try oldest.step() ? (oldest.int(0), Int(oldest.int(1))) : nil })
                sqlite3_reset(oldest.stmt)
                try delete(&pass)
            }
        }
        return (pass.deleted, !pass.full)
    }

    private func delete(_ pass: inout DeadLetterPrunePass) throws {
        let s = try conn.statement("DELETE FROM dead_letter WHERE id = ?")
        for id in pass.ids {
            sqlite3_reset(s.stmt)
            s.bind(1, id)
            try s.run()
        }
        pass.deletedCollected()
    }

    /// The payload bytes and rows of `dead_letter` (kept by triggers, not summed).
    public func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int) {
        let s = try conn.statement("SELECT payload_bytes, rows FROM dead_letter_total")
        defer { sqlite3_reset(s.stmt) }
        return try s.step() ? (Int(s.int(0)), Int(s.int(1))) : (0, 0)
    }
}

/// The rows of one dead-letter retention pass (`pruneDeadLetters`): candidates (id, payload bytes) are taken in the
/// order a store's query gives them while wanted and while the limit allows, then deleted by id. Both stores use it,
/// so they delete the same rows.
public struct DeadLetterPrunePass {
    public let limit: DeadLetterPruneLimit
    public private(set) var ids: [Int64] = []
    public private(set) var bytes = 0
    public private(set) var deleted = 0
    /// The limit stopped the pass.
    public private(set) var full = false

    public init(limit: DeadLetterPruneLimit) { self.limit = limit }

    /// Takes candidates from `next` (nil: no more) while `wanted` says so and the limit allows.
    public mutating func collect(while wanted: (DeadLetterPrunePass) -> Bool, next: () throws -> (id: Int64, bytes: Int)?) rethrows {
        while wanted(self) {
            guard deleted + ids.count < limit.rows, bytes < limit.bytes else { full = true; return }
            guard let c = try next() else { return }
            ids.append(c.id)
            bytes += c.bytes
        }
    }

    /// The collected ids were deleted.
    public mutating func deletedCollected() {
        deleted += ids.count
        ids.removeAll()
    }
}

/// How much one retention pass may delete (`WriteTransaction.pruneDeadLetters`).
public struct DeadLetterPruneLimit: Sendable, Equatable {
    public var rows: Int
    public var bytes: Int
    public init(rows: Int, bytes: Int) { self.rows = rows; self.bytes = bytes }
}

extension Store {
    /// Every rejected message counted per (reason, topic), kept or not, in (reason, topic) order.
    public func deadLetterCountsByTopic() throws -> [DeadLetterCount] {
        try read {
            let s = try conn.statement("SELECT reason, topic, count, first_at, last_at FROM dead_letter_count ORDER BY reason, topic")
            var out: [DeadLetterCount] = []
            while try s.step() {
                guard let reason = RejectReason(rawValue: s.text(0)) else { continue }
                out.append(DeadLetterCount(reason: reason, topic: s.text(1), count: Int(s.int(2)),
                                           firstAt: Instant(ms: s.int(3)), lastAt: Instant(ms: s.int(4))))
            }
            return out
        }
    }

    /// The payload bytes and rows of the dead letters kept now.
    public func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int) {
        try read { try WriteTransaction(conn: conn).deadLetterTotal() }
    }
}
