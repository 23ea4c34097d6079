import CSQLite
import Foundation

/// Copies the store's write-ahead log into the database on a thread and connection of its own, so that the live
/// engine's commits do not wait for the copy and its two syncs (a checkpoint of 1,000 pages took 10–25 ms on the
/// bench machine, and every message arriving meanwhile waited for it).
///
/// A checkpoint beside a writer that never pauses never finds the log fully copied when a write begins, so the log
/// would never start again from its beginning and would grow without bound. So the work is split: this thread copies
/// what the log holds (again while what the writer appended meanwhile is large), then asks the writer to finish. The
/// writer checkpoints the few frames left itself after its next commit (`Store.finishCheckpoint`, called once the
/// commit has been reported, so the batch's own messages do not wait for it), with nothing appended in between, and
/// the write after it starts the log again from its beginning.
///
/// Commits are counted on the writer's connection (`WALCheckpoints.commits`); `durable` is the last commit known to
/// be synced: a complete checkpoint synced the log up to the frames it saw at its start, so the commits counted
/// before it started survive a power cut.
final class BackgroundCheckpointer: @unchecked Sendable {
    /// `finish`: the writer is to finish the checkpoint once the commit has been reported (`Store.finishCheckpoint`);
    /// `now`: in the hook itself, the thread having fallen far behind.
    enum Action { case none, finish, now }

    private let conn: Connection
    private let cond = NSCondition()
    private var requested = false
    private var running = false
    private var stopping = false
    private var finishWanted = false
    /// The writer's commit count and log size after its latest commit.
    private var writerCommits = 0
    private var writerFrames: Int32 = 0
    private var _durable = 0
    private var _fault: String?
    private var _complete = 0
    /// After a round that copied nothing (a reader in another process holds the log), wait before the next.
    private var notBefore: UInt64 = 0

    init(path: String) throws(StoreError) {
        conn = try Connection(path: path, create: false)
        try conn.exec("PRAGMA busy_timeout = 0")
        // The checkpoint's syncs follow the connection's level: the same as the writer's.
        try conn.exec("PRAGMA synchronous = NORMAL")
    }

    func start() {
        let t = Thread { [self] in loop() }
        t.name = "cityeye-checkpoint"
        t.start()
    }

    /// Stops the thread (waiting for a checkpoint under way) and closes its connection.
    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while running { cond.wait() }
        cond.unlock()
        conn.close()
    }

    var durable: Int { cond.withLock { _durable } }
    /// The last round's failure (not a checkpoint another connection was running), nil once one succeeds.
    var fault: String? { cond.withLock { _fault } }
    var complete: Int { cond.withLock { _complete } }

    /// Called by the writer's wal hook after each commit: whether the writer is to finish the checkpoint now.
    func afterCommit(commits: Int, frames: Int32, pages: Int32) -> Action {
        cond.lock(); defer { cond.unlock() }
        writerCommits = commits
        writerFrames = frames
        if finishWanted && !running { finishWanted = false; return .finish }
        // The thread cannot keep up (or is held up): the writer does it all, as SQLite's own hook would.
        if frames >= pages &* 8 && !running { return .now }
        if frames >= pages && !running && !requested && !stopping && DispatchTime.now().uptimeNanoseconds >= notBefore {
            requested = true
            cond.signal()
        }
        return .none
    }

    private func loop() {
        cond.lock()
        while true {
            while !requested && !stopping { cond.wait() }
            if stopping { break }
            requested = false
            running = true
            var copiedBefore: Int32 = -1
            var progressed = false
            for _ in 0..<4 {
                let seen = writerCommits
                cond.unlock()
                var log: Int32 = 0, copied: Int32 = 0
                let rc = sqlite3_wal_checkpoint_v2(conn.db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
                cond.lock()
                if rc == SQLITE_OK && log >= 0 && log == copied { _durable = max(_durable, seen); _complete += 1 }
                if rc == SQLITE_OK {
                    _fault = nil
                } else if rc & 0xFF != SQLITE_BUSY {
                    _fault = "store \(conn.path): copying the write-ahead log into the database failed: \(conn.message)"
                }
                guard rc == SQLITE_OK, copied > copiedBefore, copied > 0 else {
                    notBefore = DispatchTime.now().uptimeNanoseconds + 100_000_000
                    break
                }
                progressed = true
                copiedBefore = copied
                if stopping || writerFrames - copied <= 64 { break }
            }
            running = false
            finishWanted = progressed
            cond.broadcast()
        }
        cond.unlock()
    }
}
