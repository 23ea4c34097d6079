import PostgresNIO
import Model
import Store
import Lease

/// The webhook outbox of a PostgreSQL store, for the communities of one partition (nil: all): each partition's
/// engine drains its own communities' rows on a connection of its own, so senders on several engines never take the
/// same row. A row handed over with its partition mid-attempt may be sent twice, with the same delivery id (at least
/// once, as in the SQLite store after a crash).
public final class PostgresOutbox: WebhookOutbox, @unchecked Sendable {
    let store: PostgresStore
    let communities: [String]?

    /// `create`: make the store's tables in an empty database (an engine's first start), as an engine's store does.
    public init(target: PostgresTarget, communities: [String]?, create: Bool = false) throws {
        store = try PostgresStore(target: target, create: create, queryTimeout: .seconds(10))
        self.communities = communities
    }

    public func close() { store.close() }

    /// `AND community = ANY(…)` for this outbox's communities, bound into `b`.
    private func mine(_ b: inout PostgresBindings) -> String {
        guard let communities else { return "" }
        b.append(communities.map(pgText))
        return " AND community = ANY($\(b.count)::text[])"
    }

    /// Replaces the communities whose changes are put into the outbox ('*': all), for every engine and every
    /// person's action on the store.
    public func setWebhookTargets(_ targets: [String]) throws {
        try store.transaction { tx in try (tx as! PostgresTransaction).replaceWebhookTargets(targets) }
    }

    public func dueNotices(at now: Instant, limit: Int) throws -> [OutboxEntry] {
        var b = PostgresBindings(); b.append(now.ms); b.append(Int64(limit))
        let filter = mine(&b)
        let rows = try store.read("""
            SELECT id, community, body, created_at, state, attempts, next_at, last_error, done_at FROM webhook_outbox
            WHERE state = 'pending' AND next_at <= $1\(filter) ORDER BY next_at, id LIMIT $2
            """, b)
        return try store.decode {
            try rows.map { r in
                OutboxEntry(id: try r.int(0), community: try r.text(1), body: try r.text(2), createdAt: Instant(ms: try r.int(3)),
                            state: OutboxState(rawValue: try r.text(4)) ?? .pending, attempts: Int(try r[5].decode(Int32.self)),
                            nextAt: Instant(ms: try r.int(6)), lastError: try r.text(7), doneAt: try r.optionalInt(8).map(Instant.init(ms:)))
            }
        }
    }

    public func outboxCounts() throws -> [OutboxState: Int] {
        var b = PostgresBindings()
        let filter = mine(&b)
        let rows = try store.read("SELECT state, count(*)::bigint FROM webhook_outbox WHERE true\(filter) GROUP BY state", b)
        var out: [OutboxState: Int] = [:]
        try store.decode { for r in rows { if let s = OutboxState(rawValue: try r.text(0)) { out[s] = Int(try r.int(1)) } } }
        return out
    }

    public func record(_ outcomes: [(id: Int64, outcome: OutboxOutcome)]) throws {
        guard !outcomes.isEmpty else { return }
        // -1: keep the row's attempts / no done_at.
        var ids: [Int64] = [], states: [String] = [], attempts: [Int64] = [], next: [Int64] = [], errors: [String] = [], done: [Int64] = []
        for (id, outcome) in outcomes {
            ids.append(id)
            switch outcome {
            case .delivered(let a, let at):
                states.append(OutboxState.delivered.rawValue); attempts.append(Int64(a)); next.append(at.ms); errors.append(""); done.append(at.ms)
            case .retry(let a, let n, let error):
                states.append(OutboxState.pending.rawValue); attempts.append(Int64(a)); next.append(n.ms); errors.append(pgText(error)); done.append(-1)
            case .failed(let a, let error, let at):
                states.append(OutboxState.failed.rawValue); attempts.append(Int64(a)); next.append(at.ms); errors.append(pgText(error)); done.append(at.ms)
            case .dropped(let reason, let at):
                states.append(OutboxState.dropped.rawValue); attempts.append(-1); next.append(at.ms); errors.append(pgText(reason)); done.append(at.ms)
            }
        }
        var b = PostgresBindings()
        b.append(ids); b.append(states); b.append(attempts); b.append(next); b.append(errors); b.append(done)
        _ = try store.read("""
            UPDATE webhook_outbox o SET state = r.state,
                attempts = CASE WHEN r.attempts < 0 THEN o.attempts ELSE r.attempts::integer END,
                next_at = r.next_at, last_error = r.error, done_at = NULLIF(r.done_at, -1)
            FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])
                AS r(id, state, attempts, next_at, error, done_at)
            WHERE o.id = r.id AND o.state = 'pending'
            """, b)
    }

    @discardableResult
    public func pruneOutbox(doneBefore: Instant, pendingBefore: Instant, now: Instant) throws -> (deleted: Int, expired: Int) {
        var e = PostgresBindings()
        e.append("expired: still undelivered when the outbox's age limit was reached"); e.append(now.ms); e.append(pendingBefore.ms)
        let expireFilter = mine(&e)
        let expired = try store.read("""
            WITH x AS (UPDATE webhook_outbox SET state = 'failed', last_error = $1, done_at = $2
                       WHERE state = 'pending' AND created_at < $3\(expireFilter) RETURNING 1)
            SELECT count(*)::bigint FROM x
            """, e)
        var d = PostgresBindings(); d.append(doneBefore.ms)
        let deleteFilter = mine(&d)
        let deleted = try store.read("""
            WITH x AS (DELETE FROM webhook_outbox WHERE state IN ('delivered', 'failed', 'dropped') AND done_at < $1\(deleteFilter) RETURNING 1)
            SELECT count(*)::bigint FROM x
            """, d)
        return try store.decode { (Int(try deleted[0].int(0)), Int(try expired[0].int(0))) }
    }
}
