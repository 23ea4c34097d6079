import Foundation
import Logging
import PostgresNIO

/// One holder's lease on one partition.
public struct Lease: Sendable, Equatable {
    public var partition: String
    /// Unique per process run (e.g. `host-pid-random`): a restarted engine is a new holder with a new token.
    public var holder: String
    /// The fencing token: one more at every new acquisition of the partition, whoever takes it.
    public var token: Int64
    /// When it expires by the server's clock (for messages; decisions use `validUntil`).
    public var expiresAt: Date
    /// This process's safe bound: the request that set the expiry left before this instant minus the TTL, and the
    /// server computed the expiry after receiving it, so the lease cannot expire earlier (clocks tick at one rate).
    /// The holder stops acknowledging and committing before it.
    public var validUntil: ContinuousClock.Instant
}

/// The answer to an acquisition.
public enum Acquisition: Sendable, Equatable {
    case acquired(Lease)
    /// Someone else holds a live lease on it.
    case held(LeaseHolder)
}

/// Partition leases in PostgreSQL (docs/scale.md): one row per partition in `partition_lease`, expiry judged by the
/// server's clock, a fencing token that `fence(_:on:)` checks inside each commit transaction. The actor keeps one
/// connection of its own and opens a new one when it drops (a server restart); each operation retries connection
/// trouble for up to `retryBudget`, which is safe because each one is idempotent for its holder.
public actor PartitionLeases {
    public nonisolated let target: PostgresTarget
    /// How long one operation keeps trying through connection trouble before `.unreachable`.
    public let retryBudget: Duration
    let logger: Logger
    private var connection: PostgresConnection?
    private var connectionIDs = 0

    public init(target: PostgresTarget, retryBudget: Duration = .seconds(10), logger: Logger) {
        self.target = target
        self.retryBudget = retryBudget
        self.logger = logger
    }

    /// Creates `partition_lease` and `engine_heartbeat` if they are missing (any number of engines may do this at once).
    public func prepare() async throws(LeaseError) {
        try await run("prepare") { c, logger in
            do {
                try await c.query("""
                    CREATE TABLE IF NOT EXISTS partition_lease (
                        partition text PRIMARY KEY,
                        holder text,
                        token bigint NOT NULL,
                        expires_at timestamptz NOT NULL
                    )
                    """, logger: logger)
            } catch where ["23505", "42P07"].contains(PostgresTrouble.sqlState(error)) {
                // Another engine created it in the same instant.
            }
            do {
                try await c.query("""
                    CREATE TABLE IF NOT EXISTS engine_heartbeat (
                        engine text PRIMARY KEY,
                        started_at timestamptz NOT NULL,
                        beat_at timestamptz NOT NULL
                    )
                    """, logger: logger)
            } catch where ["23505", "42P07"].contains(PostgresTrouble.sqlState(error)) {
            }
        }
    }

    /// Says that `engine` is alive, now by the server's clock: the roster `PartitionPlan.fairShare` splits the
    /// partitions over.
    public func heartbeat(_ engine: String) async throws(LeaseError) {
        try await run("heartbeat \(engine)") { c, logger in
            try await c.query("""
                INSERT INTO engine_heartbeat (engine, started_at, beat_at) VALUES (\(engine), now(), now())
                ON CONFLICT (engine) DO UPDATE SET beat_at = EXCLUDED.beat_at
                """, logger: logger)
        }
    }

    /// The engines whose last heartbeat is younger than `within` by the server's clock, sorted.
    public func liveEngines(within: Duration) async throws(LeaseError) -> [String] {
        let seconds = Self.seconds(within)
        return try await run("live engines") { c, logger in
            let rows = try await c.query("""
                SELECT engine FROM engine_heartbeat WHERE beat_at > now() - make_interval(secs => \(seconds)) ORDER BY engine
                """, logger: logger)
            var out: [String] = []
            for try await e in rows.decode(String.self) { out.append(e) }
            return out
        }
    }

    /// Takes `engine` off the roster (a clean stop, after its leases were released), so the others rebalance at once
    /// instead of after its heartbeat ages out.
    public func leaveRoster(_ engine: String) async throws(LeaseError) {
        try await run("leave \(engine)") { c, logger in
            try await c.query("DELETE FROM engine_heartbeat WHERE engine = \(engine)", logger: logger)
        }
    }

    /// Takes the partition if nobody holds a live lease on it, with a new token; if this holder already holds it
    /// (a retry whose first answer was lost), returns that lease.
    public func acquire(_ partition: String, holder: String, ttl: Duration) async throws(LeaseError) -> Acquisition {
        let seconds = Self.seconds(ttl)
        let sent = ContinuousClock.now
        let taken: (Int64, Date)? = try await run("acquire \(partition)") { c, logger in
            let rows = try await c.query("""
                INSERT INTO partition_lease AS l (partition, holder, token, expires_at)
                VALUES (\(partition), \(holder), 1, now() + make_interval(secs => \(seconds)))
                ON CONFLICT (partition) DO UPDATE
                    SET holder = EXCLUDED.holder, token = l.token + 1, expires_at = EXCLUDED.expires_at
                    WHERE l.holder IS NULL OR l.expires_at <= now()
                RETURNING token, expires_at
                """, logger: logger)
            for try await row in rows.decode((Int64, Date).self) { return row }
            return nil
        }
        if let (token, expiresAt) = taken {
            logger.info("lease acquired", metadata: ["partition": "\(partition)", "lease.token": "\(token)"])
            return .acquired(Lease(partition: partition, holder: holder, token: token, expiresAt: expiresAt, validUntil: sent + ttl))
        }
        guard let now = try await state(partition) else {
            throw .database(server: target.description, why: "partition \(partition): no lease row after an acquisition that took nothing")
        }
        if now.holder.holder == holder && now.holder.expiresInMs > 0 {
            // Ours already (the first try's answer was lost): the server's expiry stands, so the local bound is
            // the one that expiry allows from now.
            return .acquired(Lease(partition: partition, holder: holder, token: now.holder.token, expiresAt: now.expiresAt,
                                   validUntil: sent + .milliseconds(now.holder.expiresInMs)))
        }
        return .held(now.holder)
    }

    /// Moves the expiry to `ttl` from now, if this lease is still the live one; `.lost` otherwise (expired, or taken).
    public func renew(_ lease: Lease, ttl: Duration) async throws(LeaseError) -> Lease {
        let seconds = Self.seconds(ttl)
        let sent = ContinuousClock.now
        let expiresAt: Date? = try await run("renew \(lease.partition)") { c, logger in
            let rows = try await c.query("""
                UPDATE partition_lease SET expires_at = now() + make_interval(secs => \(seconds))
                WHERE partition = \(lease.partition) AND holder = \(lease.holder) AND token = \(lease.token)
                    AND expires_at > now()
                RETURNING expires_at
                """, logger: logger)
            for try await e in rows.decode(Date.self) { return e }
            return nil
        }
        guard let expiresAt else {
            let now = try await state(lease.partition)?.holder
            throw .lost(partition: lease.partition, holder: lease.holder, token: lease.token, now: now)
        }
        var renewed = lease
        renewed.expiresAt = expiresAt
        renewed.validUntil = sent + ttl
        return renewed
    }

    /// Gives the partition up (after the holder committed and disconnected), so the next holder need not wait for
    /// the expiry. `.lost` if another holder has taken it meanwhile.
    public func release(_ lease: Lease) async throws(LeaseError) {
        let released: Bool = try await run("release \(lease.partition)") { c, logger in
            let rows = try await c.query("""
                UPDATE partition_lease SET holder = NULL, expires_at = now()
                WHERE partition = \(lease.partition) AND token = \(lease.token) AND (holder = \(lease.holder) OR holder IS NULL)
                RETURNING token
                """, logger: logger)
            for try await _ in rows.decode(Int64.self) { return true }
            return false
        }
        guard released else {
            let now = try await state(lease.partition)?.holder
            throw .lost(partition: lease.partition, holder: lease.holder, token: lease.token, now: now)
        }
        logger.info("lease released", metadata: ["partition": "\(lease.partition)", "lease.token": "\(lease.token)"])
    }

    /// Who holds the partition now (nil: it was never leased).
    public func current(_ partition: String) async throws(LeaseError) -> LeaseHolder? {
        try await state(partition)?.holder
    }

    /// Acquires the partition, waiting while another holder has it: `onWait` hears who holds it each time that
    /// changes (so an engine can say why it waits), and the next try comes `every` later. `.cancelled` when the task
    /// is cancelled.
    public func acquireWaiting(_ partition: String, holder: String, ttl: Duration, every: Duration,
                               onWait: @Sendable (LeaseHolder) -> Void) async throws(LeaseError) -> Lease {
        var last: LeaseHolder?
        while true {
            switch try await acquire(partition, holder: holder, ttl: ttl) {
            case .acquired(let lease): return lease
            case .held(let h):
                if h.holder != last?.holder || h.token != last?.token { onWait(h) }
                last = h
            }
            do { try await Task.sleep(for: every) } catch { throw .cancelled(partition: partition) }
        }
    }

    /// The fencing check, run inside the caller's commit transaction on the caller's connection: locks the lease
    /// row (`FOR UPDATE`, so no takeover can pass this transaction) and throws `.fenced` unless `lease` is the
    /// partition's current, unexpired lease. The transaction must then roll back.
    public static func fence(_ lease: Lease, on connection: PostgresConnection, logger: Logger) async throws(LeaseError) {
        let row: (String?, Int64, Int64)?
        do {
            // clock_timestamp(), not now(): now() is the transaction's start, and the lock may have been waited for.
            let rows = try await connection.query("""
                SELECT holder, token, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint
                FROM partition_lease WHERE partition = \(lease.partition) FOR UPDATE
                """, logger: logger)
            var found: (String?, Int64, Int64)?
            for try await r in rows.decode((String?, Int64, Int64).self) { found = r }
            row = found
        } catch {
            throw PostgresTrouble.classify(error, server: "the commit transaction's connection")
        }
        guard let (holder, token, ms) = row else { throw .fenced(partition: lease.partition, token: lease.token, now: nil) }
        guard holder == lease.holder, token == lease.token, ms > 0 else {
            throw .fenced(partition: lease.partition, token: lease.token, now: LeaseHolder(holder: holder, token: token, expiresInMs: ms))
        }
    }

    /// Closes the connection (the leases stay as they are: release them first).
    public func close() async {
        if let c = connection { try? await c.close() }
        connection = nil
    }

    // MARK: - Internals

    private func state(_ partition: String) async throws(LeaseError) -> (holder: LeaseHolder, expiresAt: Date)? {
        try await run("read \(partition)") { c, logger in
            let rows = try await c.query("""
                SELECT holder, token, expires_at, (extract(epoch FROM expires_at - now()) * 1000)::bigint
                FROM partition_lease WHERE partition = \(partition)
                """, logger: logger)
            for try await (holder, token, expiresAt, ms) in rows.decode((String?, Int64, Date, Int64).self) {
                return (LeaseHolder(holder: holder, token: token, expiresInMs: ms), expiresAt)
            }
            return nil
        }
    }

    /// Runs `body` on the connection, opening one when there is none; connection trouble drops it and tries again
    /// with a growing pause (50 ms to 1 s) until `retryBudget` is spent.
    private func run<T: Sendable>(_ what: String,
                                  _ body: @Sendable (PostgresConnection, Logger) async throws -> T) async throws(LeaseError) -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + retryBudget
        var pause = Duration.milliseconds(50)
        while true {
            let failure: LeaseError
            do {
                let c = try await connected()
                return try await body(c, logger)
            } catch {
                failure = PostgresTrouble.classify(error, server: target.description)
            }
            guard case .unreachable(_, let why) = failure else { throw failure }
            if let c = connection { connection = nil; try? await c.close() }
            guard clock.now + pause < deadline, !Task.isCancelled else { throw failure }
            logger.warning("PostgreSQL connection trouble; trying again", metadata: [
                "lease.op": "\(what)", "postgres.server": "\(target)", "error": "\(why)",
            ])
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }

    private func connected() async throws(LeaseError) -> PostgresConnection {
        if let c = connection, !c.isClosed { return c }
        connectionIDs += 1
        let c = try await target.connect(id: connectionIDs, logger: logger)
        // The actor is reentrant: another operation may have connected while this one waited. Every connection let go
        // is closed (postgres-nio traps on one dropped open).
        if let current = connection, current !== c, !current.isClosed {
            try? await c.close()
            return current
        }
        let old = connection
        connection = c
        if let old, old !== c { try? await old.close() }
        return c
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
