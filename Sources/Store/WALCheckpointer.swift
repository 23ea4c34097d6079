import Foundation
import CSQLite
import Model

/// Copies the live engine's write-ahead log into the database from a thread and connection of its own.
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold and syncs the log and the
/// database file there (the only syncs in WAL mode with `synchronous = NORMAL`): every few hundred batches one
/// commit took tens of milliseconds, and the alarms waiting behind it with it. Here the engine's connection
/// never checkpoints; this one does, PASSIVE (it never blocks the writer), every `every` seconds when the log
/// holds frames not yet copied. The writer starts the log again from its beginning once all of it is copied.
public final class WALCheckpointer: @unchecked Sendable {
    private let conn: Connection
    private var thread: RepeatingThread?
    private let lock = NSLock()
    private var _passes = 0
    private var _synced = 0

    /// Starts checkpointing `path` every `every` seconds. Problems (a full disk under the database) go to `report`
    /// (nil: cleared); the engine's commits go on meanwhile.
    public init(path: String, every: Double = 1.0, report: @escaping @Sendable (StoreError?) -> Void) throws(StoreError) {
        conn = try Connection(path: path, create: false)
        // A connection learns that the file is in WAL mode when it first reads it; until then a checkpoint does
        // nothing and says so with -1 frames.
        try conn.exec("PRAGMA journal_mode = WAL")
        // Only this thread uses the connection until `stop()` has joined it.
        let own = OwnConnection(conn: conn)
        let walPath = path + "-wal"
        thread = RepeatingThread(name: "cityeye-checkpoint", every: every) { [weak self] in
            // The log is synced first (whether or not a reader's snapshot lets the checkpoint copy all of it):
            // then every commit before this pass survives a power cut (`syncedPasses`).
            let wal = open(walPath, O_RDONLY | O_CLOEXEC)
            if wal >= 0 {
                if fdatasync(wal) == 0 { self?.lock.withLock { self?._synced += 1 } }
                close(wal)
            }
            var frames: Int32 = 0, copied: Int32 = 0
            let rc = sqlite3_wal_checkpoint_v2(own.conn.db, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied)
            switch rc {
            case SQLITE_OK:
                report(nil)
                if frames >= 0 && frames == copied { self?.lock.withLock { self?._passes += 1 } }
            case SQLITE_BUSY, SQLITE_LOCKED:
                break  // another checkpoint is running (a closing reader's): this one tries again next time
            default:
                report(own.conn.failure("checkpoint"))
            }
        }
    }

    /// Checkpoints that found the whole log copied into the database when they finished.
    public var completePasses: Int { lock.withLock { _passes } }

    /// Passes that synced the log to disk. A commit made when this read n is durable (survives a power cut; with
    /// `synchronous = NORMAL` a commit alone is not) once it reads n + 2: a pass that began after it has ended.
    public var syncedPasses: Int { lock.withLock { _synced } }

    /// Stops the thread and closes its connection.
    public func stop() {
        thread?.stop()
        thread = nil
        conn.close()
    }

    deinit { stop() }
}

private struct OwnConnection: @unchecked Sendable { let conn: Connection }

extension Store {
    /// Whether this connection checkpoints the write-ahead log itself inside commits (SQLite's default, every
    /// 1,000 pages) or leaves it to a `WALCheckpointer`.
    public func checkpointsInCommits(_ on: Bool) throws(StoreError) {
        lock.lock(); defer { lock.unlock() }
        try conn.exec("PRAGMA wal_autocheckpoint = \(on ? 1000 : 0)")
    }
}
