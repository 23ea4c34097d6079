import CSQLite
import Model

let SQLITE_TRANSIENT_PTR = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// What went wrong with the store, naming the file and SQLite's own message. Code branches on `code`; the
/// description is for a person.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The file is not an SQLite database, or one that City Eye did not make.
        case notAStore
        /// Made by a newer City Eye: this one must not touch it.
        case newerSchema
        /// No store (or no folder for it) where one was expected.
        case missing
        /// Another process holds the write lock longer than the busy timeout.
        case busy
        /// The disk (or a quota) is full.
        case diskFull
        /// A read or write failed below SQLite (the disk, the file system).
        case io
        case readOnly
        case corrupt
        /// A database server (PostgreSQL) cannot be reached, or dropped the connection.
        case unreachable
        /// A partition's lease is no longer this engine's (it expired, or another engine took the partition): the
        /// transaction was rolled back and nothing more may be committed or acknowledged for the partition.
        case fenced
        case other
    }
    public var code: Code
    public var description: String
    public init(_ description: String, code: Code = .other) { self.description = description; self.code = code }

    /// The code for an SQLite result code (primary or extended).
    static func code(sqlite rc: Int32) -> Code {
        switch rc & 0xFF {
        case SQLITE_NOTADB: .notAStore
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        case SQLITE_FULL: .diskFull
        case SQLITE_IOERR, SQLITE_CANTOPEN: .io
        case SQLITE_READONLY: .readOnly
        case SQLITE_CORRUPT: .corrupt
        default: .other
        }
    }

    /// A fault that may clear by itself (a lock let go, space freed): the engine waits and retries.
    public var isTransient: Bool { code == .busy || code == .diskFull || code == .io }
}

/// A thin wrapper over one sqlite3 connection with a statement cache. Not thread-safe by itself.
final class Connection {
    let db: OpaquePointer
    let path: String
    private var cache: [String: OpaquePointer] = [:]
    /// SQLite's automatic checkpoint, done by our own hook so that we know when one finished (`WALCheckpoints`).
    let checkpoints = WALCheckpoints()

    /// `readOnly`: a reader that never writes the database (a WAL reader still maps the `-shm` file).
    init(path: String, create: Bool, readOnly: Bool = false) throws(StoreError) {
        var handle: OpaquePointer?
        // 0640, not SQLite's 0644 less the umask; its -wal and -shm take the db's mode.
        if create && !path.isEmpty && path != ":memory:" && !path.hasPrefix("file:") { PrivateFiles.createFile(path) }
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            let code = handle.map { sqlite3_extended_errcode($0) } ?? rc
            if let handle { sqlite3_close(handle) }
            throw StoreError("cannot open store \(path): \(msg)", code: StoreError.code(sqlite: code))
        }
        db = handle
        self.path = path
        if !readOnly { sqlite3_wal_hook(db, walHook, Unmanaged.passUnretained(checkpoints).toOpaque()) }
    }

    deinit { close() }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        for (_, s) in cache { sqlite3_finalize(s) }
        cache.removeAll()
        sqlite3_close_v2(db)
    }

    /// Resets every cached statement so none keeps a read snapshot open.
    func resetAll() { for (_, s) in cache { sqlite3_reset(s) } }

    var message: String { String(cString: sqlite3_errmsg(db)) }

    /// The last failure on this connection as a typed error.
    func failure(_ what: String) -> StoreError {
        StoreError("store \(path): \(what)", code: StoreError.code(sqlite: sqlite3_extended_errcode(db)))
    }

    func exec(_ sql: String) throws(StoreError) {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &err) != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? message
            sqlite3_free(err)
            throw failure(msg)
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func statement(_ sql: String) throws(StoreError) -> Statement {
        if let s = cache[sql] {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
            return Statement(stmt: s, conn: self)
        }
        var s: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &s, nil) == SQLITE_OK, let s else {
            throw failure("\(message) in: \(sql)")
        }
        cache[sql] = s
        return Statement(stmt: s, conn: self)
    }
}

/// A prepared statement: bind by position (1-based), step, read columns.
struct Statement {
    let stmt: OpaquePointer
    let conn: Connection

    func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }
    func bind(_ i: Int32, _ v: Int) { sqlite3_bind_int64(stmt, i, Int64(v)) }
    func bind(_ i: Int32, _ v: Bool) { sqlite3_bind_int64(stmt, i, v ? 1 : 0) }
    func bind(_ i: Int32, _ v: String) { sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT_PTR) }
    func bind(_ i: Int32, _ v: String?) { if let v { bind(i, v) } else { sqlite3_bind_null(stmt, i) } }
    func bind(_ i: Int32, blob: [UInt8]) {
        blob.withUnsafeBytes { p in
            _ = sqlite3_bind_blob(stmt, i, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(p.count), SQLITE_TRANSIENT_PTR)
        }
    }

    /// Steps once: true if a row is available.
    func step() throws(StoreError) -> Bool {
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw conn.failure(conn.message)
        }
    }

    func run() throws(StoreError) { while try step() {} }

    func int(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, c) else { return "" }
        return String(cString: p)
    }
    func blob(_ c: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, c))
        guard n > 0, let p = sqlite3_column_blob(stmt, c) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
    func isNull(_ c: Int32) -> Bool { sqlite3_column_type(stmt, c) == SQLITE_NULL }
}

/// The write-ahead log's checkpoints on one connection. SQLite's own automatic checkpoint is a hook run after each
/// commit (PASSIVE, once the log holds `pages` frames); this is the same hook, counting the checkpoints that left the
/// whole log copied into the database. Such a checkpoint synced the log first, so every commit before it survives a
/// power cut (with `synchronous = NORMAL` a commit alone does not). With a `background` checkpointer the copying is
/// done on its thread and the hook only finishes it. Used only by the connection's own thread.
final class WALCheckpoints {
    var pages: Int32 = 1000
    var complete = 0
    /// Frames in the write-ahead log after the last commit on this connection (before any checkpoint it started).
    var frames: Int32 = 0
    /// Commits on this connection that wrote to the log.
    var commits = 0
    /// The last of `commits` known to be synced (by a complete checkpoint of this connection's).
    var durable = 0
    var background: BackgroundCheckpointer?
    /// The background checkpointer asked the writer to finish (`Store.finishCheckpoint`).
    var finishDue = false

    /// A PASSIVE checkpoint on the writer's connection, counted when it copied the whole log.
    func checkpoint(_ db: OpaquePointer, name: UnsafePointer<CChar>?) {
        var log: Int32 = 0, copied: Int32 = 0
        if sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK && log >= 0 && log == copied {
            complete += 1
            durable = commits
        }
    }
}

private let walHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { context, db, name, frames in
    guard let context, let db else { return SQLITE_OK }
    let state = Unmanaged<WALCheckpoints>.fromOpaque(context).takeUnretainedValue()
    state.frames = frames
    state.commits += 1
    if let background = state.background {
        switch background.afterCommit(commits: state.commits, frames: frames, pages: state.pages) {
        case .none: return SQLITE_OK
        case .finish: state.finishDue = true; return SQLITE_OK
        case .now: break
        }
    } else {
        guard frames >= state.pages else { return SQLITE_OK }
    }
    // As SQLite's default hook: the commit has succeeded whatever the checkpoint does.
    state.checkpoint(db, name: name)
    return SQLITE_OK
}
