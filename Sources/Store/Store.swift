import Foundation
import CSQLite
import Model

/// Which incidents to list.
public struct IncidentFilter: Sendable {
    public var status: IncidentStatus?
    public var assignee: String?
    public var scenario: String?
    public var severity: Severity?
    public var grid: String?
    public var community: String?
    /// last_seen at or after.
    public var since: Instant?
    /// Only dispatched or acknowledged.
    public var openOnly: Bool
    /// Only not closed (dispatched, acknowledged or resolved).
    public var notClosed = false
    /// Newest (highest id) first instead of oldest first.
    public var newestFirst = false
    /// At most this many.
    public var limit: Int?
    public init(status: IncidentStatus? = nil, assignee: String? = nil, scenario: String? = nil, severity: Severity? = nil,
                grid: String? = nil, community: String? = nil, since: Instant? = nil, openOnly: Bool = false) {
        self.status = status; self.assignee = assignee; self.scenario = scenario; self.severity = severity
        self.grid = grid; self.community = community; self.since = since; self.openOnly = openOnly
    }
}

/// The SQLite store (WAL): incidents, the append-only audit trail, dead letters, processed (device, id) keys
/// and engine state. The live engine and people's commands use one file from different processes at once.
public final class Store: @unchecked Sendable {
    public let path: String
    let conn: Connection
    private let lock = NSLock()
    /// The sealer, the notices switch and the moved audit heads (`EngineStore`'s `setAuditSealer` etc.).
    public let writeSettings = WriteSettings()

    /// `busyTimeoutMs`: how long a write waits for another process's write transaction before it fails `.busy`.
    public init(path: String, create: Bool = true, busyTimeoutMs: Int = 10_000) throws(StoreError) {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty && !FileManager.default.fileExists(atPath: dir) {
            throw StoreError("cannot open store \(path): folder \(dir) does not exist", code: .missing)
        }
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw StoreError("no store at \(path): run `cityeye replay` or `cityeye run` first", code: .missing)
        }
        conn = try Connection(path: path, create: create)
        do {
            try conn.exec("PRAGMA busy_timeout = \(max(0, busyTimeoutMs))")
            // Before anything is written: a file that is not ours is left exactly as it was.
            try checkOwnership(create: create)
            try conn.exec("PRAGMA journal_mode = WAL")
            try conn.exec("PRAGMA synchronous = NORMAL")
            // 16 MiB of page cache: a replay's transaction (tens of thousands of events) fits without spilling.
            try conn.exec("PRAGMA cache_size = -16384")
            try migrate()
        } catch {
            conn.close()
            throw error
        }
    }

    public func close() {
        lock.lock()
        conn.checkpoints.background?.stop()
        conn.checkpoints.background = nil
        conn.close()
        lock.unlock()
    }

    deinit { conn.checkpoints.background?.stop() }

    /// The live engine's checkpoints: the write-ahead log is copied into the database on a thread of its own
    /// (`BackgroundCheckpointer`), and a commit only finishes what that thread copied.
    public func checkpointInBackground() throws(StoreError) {
        lock.lock(); defer { lock.unlock() }
        guard conn.checkpoints.background == nil else { return }
        let background = try BackgroundCheckpointer(path: path)
        background.start()
        conn.checkpoints.background = background
    }

    /// Runs a bulk load (a replay): the write-ahead log is copied into the database every 32 MiB instead of every
    /// 4 MiB (pages that change in many transactions are copied once, and synced far less often), and at the end
    /// it is copied back and truncated. A replay can be run again from its logs, so the longer window in which a
    /// power cut could lose committed transactions is acceptable there; the live engine does not use this.
    public func bulkLoading<T>(_ body: () throws -> T) throws -> T {
        lock.withLock { conn.checkpoints.pages = 8192 }
        defer { lock.withLock { conn.checkpoints.pages = 1000 } }
        let result = try body()
        // A reader (a worker's CLI) may hold the log: then it is copied and truncated at a later checkpoint.
        lock.lock(); defer { lock.unlock() }
        try conn.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        return result
    }

    /// Checkpoints after which the whole write-ahead log was in the database (and so synced), on this connection and
    /// its background checkpointer: a figure for the benchmarks. Which commits a power cut spares: `durableCommits`.
    /// Counted per open store (a store opened again starts at 0).
    public var completeCheckpoints: Int {
        lock.withLock { conn.checkpoints.complete + (conn.checkpoints.background?.complete ?? 0) }
    }

    /// Finishes the background checkpointer's copy when it asked for it (a PASSIVE checkpoint of the few frames it
    /// left, on this connection, between two writes); then the next write starts the log again from its beginning.
    /// The live engine calls it after each commit has been reported.
    public func finishCheckpoint() {
        lock.lock(); defer { lock.unlock() }
        guard conn.checkpoints.finishDue else { return }
        conn.checkpoints.finishDue = false
        conn.checkpoints.checkpoint(conn.db, name: nil)
    }

    /// Why the background checkpointer's last round failed (a full disk, an I/O error), nil when it succeeds.
    public var checkpointFault: String? { lock.withLock { conn.checkpoints.background?.fault } }

    /// Commits on this open store that wrote to the write-ahead log, counted from 0 at open.
    public var commitCount: Int { lock.withLock { conn.checkpoints.commits } }

    /// The last of `commitCount` known to survive a power cut: a complete checkpoint synced the log holding it.
    public var durableCommits: Int {
        lock.withLock { max(conn.checkpoints.durable, conn.checkpoints.background?.durable ?? 0) }
    }

    /// How many pages the write-ahead log holds before it is checkpointed (by a commit, or by the background
    /// checkpointer); a store opens with SQLite's default, 1,000; the live engine sets `LiveTuning.checkpointPages`.
    public func setCheckpointPages(_ pages: Int32) { lock.withLock { conn.checkpoints.pages = max(1, pages) } }

    /// Frames in the write-ahead log after this connection's last commit (what a commit wrote, by difference).
    var walFrames: Int { lock.withLock { Int(conn.checkpoints.frames) } }

    /// A City Eye store has the `schema_migration` table; an empty database is one only when we may create.
    private func checkOwnership(create: Bool) throws(StoreError) {
        let count: Int64, ours: Int64
        do {
            let tables = try conn.statement("SELECT count(*), coalesce(sum(name = 'schema_migration'), 0) FROM sqlite_master WHERE type = 'table'")
            _ = try tables.step()
            (count, ours) = (tables.int(0), tables.int(1))
            sqlite3_reset(tables.stmt)
        } catch where error.code == .notAStore {
            throw StoreError("\(path) is not a City Eye store (not an SQLite database)", code: .notAStore)
        }
        if ours == 1 { return }
        if count > 0 {
            throw StoreError("\(path) is not a City Eye store (an SQLite database of something else); nothing was changed in it",
                             code: .notAStore)
        }
        if !create {
            throw StoreError("no store at \(path) (an empty database): run `cityeye replay` or `cityeye run` first", code: .missing)
        }
    }

    private func migrate() throws(StoreError) {
        try conn.exec("CREATE TABLE IF NOT EXISTS schema_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        let s = try conn.statement("SELECT COALESCE(MAX(version), 0) FROM schema_migration")
        _ = try s.step()
        let current = Int(s.int(0))
        sqlite3_reset(s.stmt)
        if current > Migrations.all.count {
            throw StoreError("store \(path) has schema version \(current), newer than this cityeye knows (\(Migrations.all.count)): upgrade cityeye",
                             code: .newerSchema)
        }
        for (i, m) in Migrations.all.enumerated() where i + 1 > current {
            try conn.exec("BEGIN IMMEDIATE")
            do {
                try conn.exec(m.sql)
                let ins = try conn.statement("INSERT INTO schema_migration(version, name) VALUES (?, ?)")
                ins.bind(1, i + 1); ins.bind(2, m.name)
                try ins.run()
                try conn.exec("COMMIT")
            } catch {
                try? conn.exec("ROLLBACK")
                throw StoreError("store \(path): migration \(m.name) failed: \(error)", code: error.code)
            }
        }
    }

    /// BEGIN IMMEDIATE … COMMIT; ROLLBACK if `body` throws. The live engine processes a batch inside it so that
    /// people's changes committed by another process are seen before it writes.
    public func writeTransaction<T>(_ body: (WriteTransaction) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        try conn.exec("BEGIN IMMEDIATE")
        do {
            let tx = WriteTransaction(conn: conn, sealer: writeSettings.sealer, enqueuesNotices: writeSettings.enqueuesNotices)
            let result = try body(tx)
            conn.resetAll()
            try conn.exec("COMMIT")
            writeSettings.committed(tx.sealedHeads)
            return result
        } catch {
            conn.resetAll()
            try? conn.exec("ROLLBACK")
            throw error
        }
    }

    func read<T>(_ body: () throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        try conn.exec("BEGIN")
        defer { conn.resetAll(); try? conn.exec("COMMIT") }
        return try body()
    }

    static let incidentColumns = "id, rule, scenario, severity, key, device, subject, community, grid, first_seen, last_seen, count, condition, status, assignee, escalated, overdue, ack_due, resolve_due"

    static let incidentUpdates = incidentColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { $0 != "id" }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")

    static func incident(_ s: Statement) -> Incident {
        Incident(id: s.int(0), rule: s.text(1), scenario: s.text(2), severity: Severity(rawValue: s.text(3)) ?? .minor,
                 key: s.text(4), device: s.text(5), subject: s.text(6), community: s.text(7), grid: s.text(8),
                 firstSeen: Instant(ms: s.int(9)), lastSeen: Instant(ms: s.int(10)), count: s.int(11),
                 condition: Condition(rawValue: s.text(12)) ?? .active, status: IncidentStatus(rawValue: s.text(13)) ?? .dispatched,
                 assignee: s.text(14), escalated: s.int(15) != 0, overdue: s.int(16) != 0,
                 ackDue: Instant(ms: s.int(17)), resolveDue: Instant(ms: s.int(18)))
    }

    public func incidents(_ f: IncidentFilter = IncidentFilter()) throws -> [Incident] {
        let (clauses, bind) = Self.whereClause(f)
        let sql = "SELECT \(Self.incidentColumns) FROM incident\(clauses) ORDER BY id\(f.newestFirst ? " DESC" : "")"
            + (f.limit.map { " LIMIT \(max(0, $0))" } ?? "")
        return try read {
            let s = try conn.statement(sql)
            bind(s)
            var out: [Incident] = []
            while try s.step() { out.append(Self.incident(s)) }
            return out
        }
    }

    /// How many incidents match (the filter's limit and order do not apply).
    public func incidentCount(_ f: IncidentFilter = IncidentFilter()) throws -> Int {
        let (clauses, bind) = Self.whereClause(f)
        return try read {
            let s = try conn.statement("SELECT count(*) FROM incident\(clauses)")
            bind(s)
            _ = try s.step()
            return Int(s.int(0))
        }
    }

    /// ` WHERE …` for a filter (empty for none), and what binds its parameters.
    static func whereClause(_ f: IncidentFilter) -> (String, (Statement) -> Void) {
        var clauses: [String] = []
        var binds: [(Statement) -> Void] = []
        var n: Int32 = 0
        func add(_ clause: String, _ bind: @escaping (Statement, Int32) -> Void) {
            n += 1
            let i = n
            clauses.append(clause)
            binds.append { bind($0, i) }
        }
        if let v = f.status { add("status = ?") { $0.bind($1, v.rawValue) } }
        if let v = f.assignee { add("assignee = ?") { $0.bind($1, v) } }
        if let v = f.scenario { add("scenario = ?") { $0.bind($1, v) } }
        if let v = f.severity { add("severity = ?") { $0.bind($1, v.rawValue) } }
        if let v = f.grid { add("grid = ?") { $0.bind($1, v) } }
        if let v = f.community { add("community = ?") { $0.bind($1, v) } }
        if let v = f.since { add("last_seen >= ?") { $0.bind($1, v.ms) } }
        if f.openOnly { clauses.append("status IN ('dispatched', 'acknowledged')") }
        if f.notClosed { clauses.append("status IN ('dispatched', 'acknowledged', 'resolved')") }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), { s in for b in binds { b(s) } })
    }

    /// The scenarios that have incidents in the store.
    public func scenarios() throws -> [String] {
        try read {
            let s = try conn.statement("SELECT DISTINCT scenario FROM incident ORDER BY scenario")
            var out: [String] = []
            while try s.step() { out.append(s.text(0)) }
            return out
        }
    }

    public func incident(id: Int64) throws -> Incident? {
        try read { try WriteTransaction(conn: conn).incident(id: id) }
    }

    public func notClosedIncidents() throws -> [Incident] {
        try read {
            let s = try conn.statement("SELECT \(Self.incidentColumns) FROM incident WHERE status != 'closed' ORDER BY id")
            var out: [Incident] = []
            while try s.step() { out.append(Self.incident(s)) }
            return out
        }
    }

    public func maxIncidentID() throws -> Int64 {
        try read {
            let s = try conn.statement("SELECT COALESCE(MAX(id), 0) FROM incident")
            _ = try s.step()
            return s.int(0)
        }
    }

    public func audit(of incident: Int64) throws -> [AuditEntry] {
        try auditRows("SELECT \(Self.auditColumns) FROM audit WHERE incident = ? ORDER BY id") { $0.bind(1, incident) }
    }

    public func allAudit() throws -> [AuditEntry] {
        try auditRows("SELECT \(Self.auditColumns) FROM audit ORDER BY id") { _ in }
    }

    static let auditColumns = "incident, at, actor, action, note, channel, os_user"

    /// The audit entry in `auditColumns` from column `c` on.
    static func auditEntry(_ s: Statement, from c: Int32 = 0) -> AuditEntry {
        let actor = s.text(c + 2)
        // '' is a row from before channels were recorded (migration v3).
        let channel = AuditChannel(rawValue: s.text(c + 5)) ?? (actor == AuditEntry.engineActor ? .engine : .cli)
        return AuditEntry(incident: s.int(c), at: Instant(ms: s.int(c + 1)), actor: actor,
                          action: AuditAction(rawValue: s.text(c + 3)) ?? .repeated, note: s.text(c + 4),
                          channel: channel, osUser: s.text(c + 6))
    }

    private func auditRows(_ sql: String, _ bind: (Statement) -> Void) throws -> [AuditEntry] {
        try read {
            let s = try conn.statement(sql)
            bind(s)
            var out: [AuditEntry] = []
            while try s.step() { out.append(Self.auditEntry(s)) }
            return out
        }
    }

    public func deadLetters(limit: Int? = nil) throws -> [DeadLetter] {
        try read {
            let sql = limit == nil
                ? "SELECT received_at, topic, reason, detail, payload FROM dead_letter ORDER BY id"
                : "SELECT * FROM (SELECT id, received_at, topic, reason, detail, payload FROM dead_letter ORDER BY id DESC LIMIT ?) ORDER BY id"
            let s = try conn.statement(sql)
            let o: Int32 = limit == nil ? 0 : 1
            if let limit { s.bind(1, limit) }
            var out: [DeadLetter] = []
            while try s.step() {
                out.append(DeadLetter(topic: s.text(o + 1), payload: s.blob(o + 4),
                                      reason: RejectReason(rawValue: s.text(o + 2)) ?? .badJSON,
                                      detail: s.text(o + 3), receivedAt: Instant(ms: s.int(o))))
            }
            return out
        }
    }

    public func deadLetterCounts() throws -> [RejectReason: Int] {
        try read {
            let s = try conn.statement("SELECT reason, COUNT(*) FROM dead_letter GROUP BY reason")
            var out: [RejectReason: Int] = [:]
            while try s.step() { if let r = RejectReason(rawValue: s.text(0)) { out[r] = Int(s.int(1)) } }
            return out
        }
    }

    /// The processed-id keys of batches written at or after `since` (and before `before`) in key format `format`, one
    /// after another (the store does not look inside them).
    public func processedKeys(since: Instant, before: Instant?, format: Int) throws -> [UInt8] {
        try read {
            let s = try conn.statement("SELECT keys FROM processed_batch WHERE at >= ? AND at < ? AND format = ? ORDER BY id")
            s.bind(1, since.ms)
            s.bind(2, before?.ms ?? Int64.max)
            s.bind(3, Int64(format))
            var out: [UInt8] = []
            while try s.step() { out.append(contentsOf: s.blob(0)) }
            return out
        }
    }

    public func state(_ name: String) throws -> [UInt8]? {
        try read { try WriteTransaction(conn: conn).state(name) }
    }

    /// The rule state saved by key, in (rule, key) order.
    public func ruleKeys() throws -> [SavedRuleKey] {
        try read {
            let s = try conn.statement("SELECT rule, key, state FROM rule_key ORDER BY rule, key")
            var out: [SavedRuleKey] = []
            while try s.step() { out.append(SavedRuleKey(rule: s.text(0), key: s.text(1), state: s.blob(2))) }
            return out
        }
    }

    public func ruleKeyCount() throws -> Int {
        try read {
            let s = try conn.statement("SELECT count(*) FROM rule_key")
            _ = try s.step()
            return Int(s.int(0))
        }
    }

    /// The event time of the latest processed-id batch, if any (where dedup picks up when no rule state exists).
    public func latestProcessedAt() throws -> Instant? {
        try read {
            let s = try conn.statement("SELECT max(at) FROM processed_batch")
            _ = try s.step()
            return s.isNull(0) ? nil : Instant(ms: s.int(0))
        }
    }
}
