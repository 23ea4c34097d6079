import PostgresNIO
import Store

/// The capture of a partitioned city, kept in the store (`capture_line`, written in each batch's transaction) until
/// `cityeye capture` writes it out as day files.
extension PostgresStore {
    /// The last capture row committed. Read under the store's write lock: rows are inserted under it, in commit
    /// order, so every row up to this one is committed and no later commit can add one below it.
    public func capturedThrough() throws -> Int64 {
        try lock.withLock {
            if reconnects { try session.reconnectIfLost() }
            try session.query("BEGIN")
            do {
                try session.query("SELECT pg_advisory_xact_lock(\(Self.lockClass), \(LockKey.write.rawValue))")
                let rows = try session.query("SELECT COALESCE(max(seq), 0) FROM capture_line")
                let last = try decode { try rows.first?.int(0) ?? 0 }
                try session.query("COMMIT")
                return last
            } catch {
                _ = try? session.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Capture rows after `after` up to `through`, oldest first, at most `limit`.
    public func capturedLines(after: Int64, through: Int64, limit: Int) throws -> [(seq: Int64, lines: CapturedLines)] {
        var b = PostgresBindings(); b.append(after); b.append(through); b.append(Int64(limit))
        let rows = try read("SELECT seq, day, lines FROM capture_line WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3", b)
        return try decode { try rows.map { (try $0.int(0), CapturedLines(day: Int(try $0.int(1)), text: try $0.bytes(2))) } }
    }

    /// The capture rows waiting for `cityeye capture`, and the oldest day they hold (nil: none).
    public func captureWaiting() throws -> (rows: Int, oldestDay: Int?) {
        let rows = try read("SELECT count(*), min(day) FROM capture_line")
        return try decode {
            guard let r = rows.first else { return (0, nil) }
            let n = Int(try r.int(0))
            return (n, n > 0 ? Int(try r.int(1)) : nil)
        }
    }

    /// The days of the capture rows after `after` up to `through`.
    public func capturedDays(after: Int64, through: Int64) throws -> [Int] {
        var b = PostgresBindings(); b.append(after); b.append(through)
        let rows = try read("SELECT DISTINCT day FROM capture_line WHERE seq > $1 AND seq <= $2 ORDER BY day", b)
        return try decode { try rows.map { Int(try $0.int(0)) } }
    }

    /// Deletes the capture rows up to `through` (written out); how many.
    @discardableResult
    public func deleteCaptured(through: Int64) throws -> Int {
        var b = PostgresBindings(); b.append(through)
        let rows = try read("WITH d AS (DELETE FROM capture_line WHERE seq <= $1 RETURNING 1) SELECT count(*) FROM d", b)
        return Int(try decode { try rows.first?.int(0) ?? 0 })
    }
}
