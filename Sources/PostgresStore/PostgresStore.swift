import Foundation
import NIOCore
import PostgresNIO
import Model
import Store
import Lease

/// The store in PostgreSQL (issue 15, docs/scale.md): the same tables and semantics as the SQLite `Store`, behind the
/// same `EngineStore` interface, so a replay can fill it and people's read commands can list from it. A batch's
/// transaction is a few statements whatever its size: rows go in as arrays (`unnest`), never one statement a row.
/// Synchronous, like the engine that calls it (see `PostgresSession`); one connection, guarded by a lock.
public final class PostgresStore: EngineStore, @unchecked Sendable {
    public let target: PostgresTarget
    /// The URL without the password, for messages.
    public var path: String { target.description }
    let session: PostgresSession
    let lock = NSLock()
    /// The sealer, the moved heads, and whether audit rows of notifying actions go to the webhook outbox.
    public let writeSettings = WriteSettings()
    /// The partition this store's engine owns, when several engines share the database (nil: one engine).
    public let scope: PartitionScope?
    /// Whether a lost connection is made again (`init`'s `reconnects`).
    let reconnects: Bool
    /// The `part` of the engine state, rule state and processed ids this store reads and writes ('' for one engine).
    var part: String { scope?.partition ?? "" }

    /// Advisory lock keys (class 'CEye'): one engine writes the store at a time, one transaction writes at a time,
    /// one process migrates at a time.
    static let lockClass: Int32 = 0x4345_7965
    enum LockKey: Int32 { case engine = 1, write = 2, migrate = 3 }

    /// Connects and brings the schema up to date. `create` false: a database without the store's tables is an error
    /// that says how to make one (a read command never creates).
    /// `queryTimeout`: how long one statement may go unanswered before the store gives up on the connection with an
    /// error (a batch of 65,536 lines is ~20 statements of well under a second each here).
    /// `scope`: the partition (and its lease) this store writes for, beside other engines' partitions.
    /// `reconnects`: a lost connection is made again before the next read or transaction (a long-running reader such
    /// as `cityeye serve`, which keeps no session lock); without it the store stays broken until it is opened again.
    public init(target: PostgresTarget, create: Bool = true, connectTimeout: Duration = .seconds(5),
                queryTimeout: Duration = .seconds(60), scope: PartitionScope? = nil, reconnects: Bool = false) throws {
        self.target = target
        self.scope = scope
        self.reconnects = reconnects
        session = try PostgresSession(target: target, connectTimeout: connectTimeout, queryTimeout: queryTimeout)
        do {
            if scope != nil {
                // Several engines commit under one write lock: one frozen inside its transaction (SIGSTOP, a VM paused,
                // swapped out) would hold every other partition's commits up. The server ends such a transaction.
                try session.query("SET idle_in_transaction_session_timeout = '\(Self.frozenTransactionLimitSeconds)s'")
            }
            try checkOwnership(create: create)
            try migrate()
        } catch {
            session.close()
            throw error
        }
    }

    public func close() { lock.withLock { session.close() } }

    /// How long a partitioned engine's transaction may wait on its own client between two statements before the
    /// server ends it (a batch's processing between its statements takes milliseconds).
    public static let frozenTransactionLimitSeconds = 5

    /// The audit key file when none is named: `cityeye-<database>-<host>-<port>.audit-key` in the working folder
    /// (a server has no folder of ours to keep it beside, as the SQLite store's `<file>.audit-key`).
    public static func defaultAuditKeyPath(_ target: PostgresTarget) -> String {
        "cityeye-\(target.database)-\(target.host)-\(target.port).audit-key"
    }

    /// A City Eye store has `schema_migration`; a database with tables of something else is refused untouched
    /// (`partition_lease` and `engine_heartbeat`, the Lease target's tables, may share the database).
    private func checkOwnership(create: Bool) throws {
        let rows = try session.query("""
            SELECT count(*) FILTER (WHERE table_name NOT IN ('schema_migration', 'partition_lease', 'engine_heartbeat')),
                   count(*) FILTER (WHERE table_name = 'schema_migration')
            FROM information_schema.tables WHERE table_schema = current_schema()
            """)
        let (others, ours) = try decode { (try rows[0].int(0), try rows[0].int(1)) }
        if ours == 1 { return }
        if others > 0 {
            throw StoreError("\(path) is not a City Eye store (its schema holds \(others) table(s) of something else); nothing was changed in it",
                             code: .notAStore)
        }
        if !create {
            throw StoreError("no store at \(path) (no City Eye tables in the database): run `cityeye replay --db \(path)` first", code: .missing)
        }
    }

    private func migrate() throws {
        try session.query("BEGIN")
        do {
            try session.query("SELECT pg_advisory_xact_lock(\(Self.lockClass), \(LockKey.migrate.rawValue))")
            try session.query("""
                CREATE TABLE IF NOT EXISTS schema_migration (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """)
            let rows = try session.query("SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migration")
            let current = Int(try decode { try rows[0].int(0) })
            if current > PostgresMigrations.all.count {
                throw StoreError("store \(path) has schema version \(current), newer than this cityeye knows (\(PostgresMigrations.all.count)): upgrade cityeye",
                                 code: .newerSchema)
            }
            for (i, m) in PostgresMigrations.all.enumerated() where i + 1 > current {
                do {
                    for sql in m.sql { try session.query(sql) }
                } catch let error as StoreError {
                    throw StoreError("store \(path): migration \(m.name) failed: \(error)", code: error.code)
                }
                var b = PostgresBindings()
                b.append(Int64(i + 1)); b.append(m.name)
                try session.query("INSERT INTO schema_migration (version, name) VALUES ($1, $2)", b)
            }
            try session.query("COMMIT")
        } catch {
            _ = try? session.query("ROLLBACK")
            throw error
        }
    }

    /// Takes the store for one engine (a replay) for as long as it stays open: a second engine is refused at once,
    /// naming the holder's connection. A session-level advisory lock: it goes with the connection, so a crashed
    /// engine's lock is gone as soon as the server sees the connection drop.
    public func lockForEngine(role: String) throws {
        precondition(!reconnects, "a store that reconnects would lose its session lock with the connection")
        try lock.withLock {
            let rows = try session.query("SELECT pg_try_advisory_lock(\(Self.lockClass), \(LockKey.engine.rawValue))")
            if try decode({ try rows[0].bool(0) }) { return }
            let holder = try session.query("""
                SELECT a.pid::bigint, coalesce(a.client_addr::text, 'local'), coalesce(a.application_name, ''), a.backend_start::text
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.classid = \(Self.lockClass) AND l.objid = \(LockKey.engine.rawValue) AND l.granted
                """)
            let who = holder.first.flatMap { r in
                try? "server process \(r.int(0)) for \(r.text(2).isEmpty ? "a client" : r.text(2)) at \(r.text(1)), connected since \(r.text(3))"
            } ?? "holder unknown"
            throw StoreError("store \(path) is in use by another City Eye engine (\(who)): one engine or replay writes a store at a time; "
                             + "stop that one first (\(role) was refused)", code: .busy)
        }
    }

    /// Takes the store for partitioned engines: any number of them share it (each fenced by its partition's lease),
    /// while a replay, which takes it whole (`lockForEngine`), is refused meanwhile and refuses them.
    public func lockForPartitions() throws {
        precondition(!reconnects, "a store that reconnects would lose its session lock with the connection")
        try lock.withLock {
            let rows = try session.query("SELECT pg_try_advisory_lock_shared(\(Self.lockClass), \(LockKey.engine.rawValue))")
            if try decode({ try rows[0].bool(0) }) { return }
            throw StoreError("store \(path) is in use by a replay (or an engine that owns the whole store): partitioned engines "
                             + "start once it has finished", code: .busy)
        }
    }

    /// Runs `body` in one transaction holding the store's write lock (an advisory lock for the transaction, the
    /// equivalent of SQLite's BEGIN IMMEDIATE): people's changes committed before it are seen before it writes.
    public func transaction<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        if reconnects { try session.reconnectIfLost() }
        try session.query("BEGIN")
        do {
            try session.query("SELECT pg_advisory_xact_lock(\(Self.lockClass), \(LockKey.write.rawValue))")
            if let scope { try fence(scope) }
            let tx = PostgresTransaction(store: self, sealer: writeSettings.sealer, enqueuesNotices: writeSettings.enqueuesNotices)
            let result = try body(tx)
            try tx.enqueueNotices()
            try session.query("COMMIT")
            writeSettings.committed(tx.sealedHeads)
            return result
        } catch {
            _ = try? session.query("ROLLBACK")
            throw error
        }
    }

    /// A replay's commits do not wait for the server's write-ahead log to reach the disk (`synchronous_commit = off`):
    /// a crash of the server may lose the last ones, never half of one, and the replay can be run again from its
    /// logs — the same bargain as the SQLite store's bulk mode. The live engine will not use it.
    public func bulkLoading<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock { try session.query("SET synchronous_commit = off") }
        defer { lock.withLock { _ = try? session.query("RESET synchronous_commit") } }
        return try body()
    }

    /// The fencing check, inside the commit transaction (docs/scale.md, "Leases and fencing"): locks the partition's
    /// lease row, so no takeover can pass this transaction, and refuses the commit unless the lease is still this
    /// engine's and unexpired by the server's clock.
    private func fence(_ scope: PartitionScope, locking: Bool = true) throws {
        var b = PostgresBindings(); b.append(scope.lease.partition)
        // clock_timestamp(), not now(): now() is the transaction's start, and the locks may have been waited for.
        let rows = try session.query("""
            SELECT holder, token, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint
            FROM partition_lease WHERE partition = $1\(locking ? " FOR UPDATE" : "")
            """, b)
        let now = try decode { try rows.first.map { (try $0.optionalText(0), try $0.int(1), try $0.int(2)) } }
        if let (holder, token, ms) = now, holder == scope.lease.holder, token == scope.lease.token, ms > 0 { return }
        let who = now.map { n in n.0.map { "\($0) holds it with token \(n.1)" } ?? "nobody holds it" } ?? "it has no lease row"
        throw StoreError("partition \(scope.partition): lease \(scope.lease.token) of \(scope.lease.holder) is over (\(who)); "
                         + "this batch is not committed and nothing more is acknowledged for the partition", code: .fenced)
    }

    /// The fencing check alone, outside a transaction: before a partition acknowledges messages that it had nothing
    /// to commit for (the partition `keyed`'s batches without an event of its rules), as a commit would have checked.
    public func checkLease() throws {
        guard let scope else { return }
        try lock.withLock { try fence(scope, locking: false) }
    }

    // MARK: reading

    /// One statement outside a write transaction, under the lock.
    func read(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [PostgresRandomAccessRow] {
        try lock.withLock {
            if reconnects { try session.reconnectIfLost() }
            return try session.query(sql, binds)
        }
    }

    /// Decoding a row: a column of an unexpected type is a store error naming the store, not a crash.
    func decode<T>(_ body: () throws -> T) throws(StoreError) -> T { try Self.decode(path: path, body) }

    static func decode<T>(path: String, _ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch {
            throw StoreError("store \(path): a row could not be read (\(error)); is its schema City Eye's?", code: .corrupt)
        }
    }

    static let incidentColumns = "id, rule, scenario, severity, key, device, subject, community, grid, first_seen, last_seen, count, condition, status, assignee, escalated, overdue, ack_due, resolve_due"

    static func incident(_ r: PostgresRandomAccessRow, from c: Int = 0) throws -> Incident {
        Incident(id: try r.int(c), rule: try r.text(c + 1), scenario: try r.text(c + 2),
                 severity: Severity(rawValue: try r.text(c + 3)) ?? .minor, key: try r.text(c + 4), device: try r.text(c + 5),
                 subject: try r.text(c + 6), community: try r.text(c + 7), grid: try r.text(c + 8),
                 firstSeen: Instant(ms: try r.int(c + 9)), lastSeen: Instant(ms: try r.int(c + 10)), count: try r.int(c + 11),
                 condition: Condition(rawValue: try r.text(c + 12)) ?? .active,
                 status: IncidentStatus(rawValue: try r.text(c + 13)) ?? .dispatched, assignee: try r.text(c + 14),
                 escalated: try r.bool(c + 15), overdue: try r.bool(c + 16),
                 ackDue: Instant(ms: try r.int(c + 17)), resolveDue: Instant(ms: try r.int(c + 18)))
    }

    func incidentRows(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [Incident] {
        let rows = try read(sql, binds)
        return try decode { try rows.map { try Self.incident($0) } }
    }

    public func incidents(_ f: IncidentFilter) throws -> [Incident] {
        var b = PostgresBindings()
        let sql = "SELECT \(Self.incidentColumns) FROM incident" + Self.whereClause(f, &b)
            + " ORDER BY id\(f.newestFirst ? " DESC" : "")" + (f.limit.map { " LIMIT \(max(0, $0))" } ?? "")
        return try incidentRows(sql, b)
    }

    /// ` WHERE …` for a filter (empty for none), its values bound into `b`.
    static func whereClause(_ f: IncidentFilter, _ b: inout PostgresBindings) -> String {
        var clauses: [String] = []
        func add(_ column: String, _ value: String) { b.append(value); clauses.append("\(column) = $\(b.count)") }
        if let v = f.status { add("status", v.rawValue) }
        if let v = f.assignee { add("assignee", pgText(v)) }
        if let v = f.scenario { add("scenario", pgText(v)) }
        if let v = f.severity { add("severity", v.rawValue) }
        if let v = f.grid { add("grid", pgText(v)) }
        if let v = f.community { add("community", pgText(v)) }
        if let v = f.since { b.append(v.ms); clauses.append("last_seen >= $\(b.count)") }
        if f.openOnly { clauses.append("status IN ('dispatched', 'acknowledged')") }
        if f.notClosed { clauses.append("status IN ('dispatched', 'acknowledged', 'resolved')") }
        return clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
    }

    public func scenarios() throws -> [String] {
        let rows = try read("SELECT DISTINCT scenario FROM incident ORDER BY scenario")
        return try decode { try rows.map { try $0.text(0) } }
    }

    public func incident(id: Int64) throws -> Incident? {
        var b = PostgresBindings(); b.append(id)
        return try incidentRows("SELECT \(Self.incidentColumns) FROM incident WHERE id = $1", b).first
    }

    public func notClosedIncidents() throws -> [Incident] {
        guard let scope else {
            return try incidentRows("SELECT \(Self.incidentColumns) FROM incident WHERE status <> 'closed' ORDER BY id")
        }
        var b = PostgresBindings()
        let owned = scope.owned(&b)
        return try incidentRows("SELECT \(Self.incidentColumns) FROM incident WHERE status <> 'closed'\(owned) ORDER BY id", b)
    }

    public func maxIncidentID() throws -> Int64 {
        let rows = try read("SELECT COALESCE(MAX(id), 0)::bigint FROM incident")
        return try decode { try rows[0].int(0) }
    }

    static let auditColumns = "incident, at, actor, action, note, channel, os_user"

    static func auditEntry(_ r: PostgresRandomAccessRow, from c: Int = 0) throws -> AuditEntry {
        let actor = try r.text(c + 2)
        // '' is a row written without a channel (the SQLite store's rows before its v3; kept for a copied trail).
        let channel = AuditChannel(rawValue: try r.text(c + 5)) ?? (actor == AuditEntry.engineActor ? .engine : .cli)
        return AuditEntry(incident: try r.int(c), at: Instant(ms: try r.int(c + 1)), actor: actor,
                          action: AuditAction(rawValue: try r.text(c + 3)) ?? .repeated, note: try r.text(c + 4),
                          channel: channel, osUser: try r.text(c + 6))
    }

    public func audit(of incident: Int64) throws -> [AuditEntry] {
        var b = PostgresBindings(); b.append(incident)
        let rows = try read("SELECT \(Self.auditColumns) FROM audit WHERE incident = $1 ORDER BY id", b)
        return try decode { try rows.map { try Self.auditEntry($0) } }
    }

    public func allAudit() throws -> [AuditEntry] {
        let rows = try read("SELECT \(Self.auditColumns) FROM audit ORDER BY id")
        return try decode { try rows.map { try Self.auditEntry($0) } }
    }

    public func lastAuditRow() throws -> Int64 {
        let rows = try read("SELECT COALESCE(MAX(id), 0)::bigint FROM audit")
        return try decode { try rows[0].int(0) }
    }

    public func auditHeads() throws -> [String: AuditHead] {
        let rows = try read("SELECT chain, row, mac FROM audit_head")
        return try decode {
            var out: [String: AuditHead] = [:]
            for r in rows { out[try r.text(0)] = AuditHead(row: try r.int(1), mac: try r.bytes(2)) }
            return out
        }
    }

    /// Read in pages of 10,000 rows by id (a city's trail does not fit in memory at once).
    public func forEachAuditRow(_ body: (AuditRow) throws -> Bool) throws {
        var after: Int64 = 0
        while true {
            var b = PostgresBindings(); b.append(after)
            let rows = try read("SELECT id, chain, mac, \(Self.auditColumns) FROM audit WHERE id > $1 ORDER BY id LIMIT 10000", b)
            guard !rows.isEmpty else { return }
            for r in rows {
                let row = try decode { AuditRow(id: try r.int(0), chain: try r.text(1), entry: try Self.auditEntry(r, from: 3), mac: try r.bytes(2)) }
                guard try body(row) else { return }
                after = row.id
            }
        }
    }

    public func events(of incident: Int64) throws -> [IncidentEvent] {
        var b = PostgresBindings(); b.append(incident)
        return try incidentEvents("WHERE incident = $1 ORDER BY seq", b)
    }

    public func allIncidentEvents() throws -> [IncidentEvent] { try incidentEvents("ORDER BY incident, seq") }

    private func incidentEvents(_ clause: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [IncidentEvent] {
        let rows = try read("SELECT incident, seq, event_id, device, type, ts, data FROM incident_event " + clause, binds)
        return try decode {
            try rows.map { r in
                IncidentEvent(incident: try r.int(0), seq: try r.int(1), eventID: try r.text(2), device: try r.text(3),
                              type: try r.text(4), ts: Instant(ms: try r.int(5)), data: try r.text(6))
            }
        }
    }

    public func deadLetters(limit: Int?) throws -> [DeadLetter] {
        var b = PostgresBindings()
        let sql: String
        if let limit {
            b.append(Int64(limit))
            sql = "SELECT * FROM (SELECT id, received_at, topic, reason, detail, payload FROM dead_letter ORDER BY id DESC LIMIT $1) d ORDER BY id"
        } else {
            sql = "SELECT id, received_at, topic, reason, detail, payload FROM dead_letter ORDER BY id"
        }
        let rows = try read(sql, b)
        return try decode {
            try rows.map { r in
                DeadLetter(topic: String(decoding: try r.bytes(2), as: UTF8.self), payload: try r.bytes(5),
                           reason: RejectReason(rawValue: try r.text(3)) ?? .badJSON,
                           detail: String(decoding: try r.bytes(4), as: UTF8.self), receivedAt: Instant(ms: try r.int(1)))
            }
        }
    }

    public func deadLetterCountsByTopic() throws -> [DeadLetterCount] {
        let rows = try read("SELECT reason, topic, count, first_at, last_at FROM dead_letter_count ORDER BY reason, topic")
        return try decode {
            try rows.compactMap { r in
                guard let reason = RejectReason(rawValue: try r.text(0)) else { return nil }
                return DeadLetterCount(reason: reason, topic: String(decoding: try r.bytes(1), as: UTF8.self), count: Int(try r.int(2)),
                                       firstAt: Instant(ms: try r.int(3)), lastAt: Instant(ms: try r.int(4)))
            }
        }
    }

    public func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int) {
        let rows = try read("SELECT payload_bytes, rows FROM dead_letter_total")
        return try decode { rows.isEmpty ? (0, 0) : (Int(try rows[0].int(0)), Int(try rows[0].int(1))) }
    }

    public func state(_ name: String) throws -> [UInt8]? {
        var b = PostgresBindings(); b.append(part); b.append(name)
        let rows = try read("SELECT value FROM engine_state WHERE part = $1 AND name = $2", b)
        return try decode { try rows.first.map { try $0.bytes(0) } }
    }

    public func ruleKeys() throws -> [SavedRuleKey] {
        var b = PostgresBindings(); b.append(part)
        let rows = try read("SELECT rule, key, state FROM rule_key WHERE part = $1 ORDER BY rule, key", b)
        return try decode { try rows.map { SavedRuleKey(rule: try $0.text(0), key: try $0.text(1), state: try $0.bytes(2)) } }
    }

    public func latestProcessedAt() throws -> Instant? {
        var b = PostgresBindings(); b.append(part)
        let rows = try read("SELECT max(at) FROM processed_batch WHERE part = $1", b)
        return try decode { try rows[0].optionalInt(0).map(Instant.init(ms:)) }
    }

    public func processedKeys(since: Instant, before: Instant?, format: Int) throws -> [UInt8] {
        try Self.keys(try read(Self.processedKeysSQL, Self.processedKeysBindings(part, since, before, format)), path: path)
    }

    /// A connection of its own for each read (closed after it), to the same database and partition.
    public func asideKeyReader() -> (@Sendable (_ since: Instant, _ before: Instant, _ format: Int) throws -> [UInt8])? {
        let (target, part, path) = (target, part, path)
        return { since, before, format in
            let session = try PostgresSession(target: target, connectTimeout: .seconds(5), queryTimeout: .seconds(60))
            defer { session.close() }
            return try Self.keys(try session.query(Self.processedKeysSQL, Self.processedKeysBindings(part, since, before, format)), path: path)
        }
    }

    private static let processedKeysSQL =
        "SELECT keys FROM processed_batch WHERE part = $4 AND at >= $1 AND at < $2 AND format = $3 ORDER BY id"

    private static func processedKeysBindings(_ part: String, _ since: Instant, _ before: Instant?, _ format: Int) -> PostgresBindings {
        var b = PostgresBindings(); b.append(since.ms); b.append(before?.ms ?? Int64.max); b.append(Int64(format)); b.append(part)
        return b
    }

    private static func keys(_ rows: [PostgresRandomAccessRow], path: String) throws(StoreError) -> [UInt8] {
        try decode(path: path) {
            var out: [UInt8] = []
            for r in rows { out.append(contentsOf: try r.bytes(0)) }
            return out
        }
    }
}

/// One partition of a store several engines share: which partition, the incidents it owns (those it carries over
/// and whose people's changes it picks up: its communities', of its rules), and the lease every commit is fenced by.
public struct PartitionScope: Sendable {
    /// Which rules' incidents a partition owns.
    public enum Rules: Sendable, Equatable {
        case all
        case only([String])
        case except([String])
    }
    public var partition: String
    /// nil: every community (the partition of the rules keyed across communities).
    public var communities: [String]?
    public var rules: Rules
    public var lease: Lease
    public init(partition: String, communities: [String]?, rules: Rules = .all, lease: Lease) {
        self.partition = partition; self.communities = communities; self.rules = rules; self.lease = lease
    }

    /// `AND …` conditions on `incident` rows for the incidents this partition owns, their arrays bound into `b`.
    func owned(_ b: inout PostgresBindings) -> String {
        var sql = ""
        if let communities {
            b.append(communities.map(pgText))
            sql += " AND community = ANY($\(b.count)::text[])"
        }
        switch rules {
        case .all: break
        case .only(let ids):
            b.append(ids.map(pgText))
            sql += " AND rule = ANY($\(b.count)::text[])"
        case .except(let ids):
            b.append(ids.map(pgText))
            sql += " AND NOT (rule = ANY($\(b.count)::text[]))"
        }
        return sql
    }
}
