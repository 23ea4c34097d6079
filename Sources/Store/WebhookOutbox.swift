import Model

/// What the webhook sender needs of a store's outbox (docs/operations.md, "Webhooks"): the SQLite `Store`, or a
/// PostgreSQL store's outbox for some communities (a partition's).
public protocol WebhookOutbox: AnyObject, Sendable {
    /// Pending rows due at `now`, oldest due first, at most `limit`.
    func dueNotices(at now: Instant, limit: Int) throws -> [OutboxEntry]
    func outboxCounts() throws -> [OutboxState: Int]
    /// Records what became of pending rows (a row no longer pending is left as it is), in one write.
    func record(_ outcomes: [(id: Int64, outcome: OutboxOutcome)]) throws
    /// Rows done before `doneBefore` are deleted; rows still pending created before `pendingBefore` are marked failed
    /// (`expired`). Returns (deleted, expired).
    @discardableResult
    func pruneOutbox(doneBefore: Instant, pendingBefore: Instant, now: Instant) throws -> (deleted: Int, expired: Int)
    func close()
}

extension Store: WebhookOutbox {}
