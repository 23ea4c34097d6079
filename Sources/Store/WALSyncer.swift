import Foundation
import Model
#if canImport(Glibc)
import Glibc
#endif

/// Syncs a store's write-ahead log to disk every `every` seconds from a thread of its own. With `synchronous =
/// NORMAL` a commit is written to the log but synced only when SQLite checkpoints (every 1,000 pages), which on a
/// quiet engine can be a long while: until then a power cut can take commits back. The live engine removes a
/// journal segment only once a sync pass has covered the commit past it (`syncedPasses`), so the journal still
/// holds whatever a power cut could take from the store. (Checkpoints stay in the writer's commits: only there
/// can a checkpoint finish with no writer appending, which lets the log start again from its beginning.)
public final class WALSyncer: @unchecked Sendable {
    private var thread: RepeatingThread?
    private let lock = NSLock()
    private var _synced = 0
    private var _failure: Int32 = 0

    /// Problems (an I/O error under the log) go to `report` (nil: cleared).
    public init(store path: String, every: Double = 1.0, report: @escaping @Sendable (String?) -> Void) {
        let walPath = path + "-wal"
        thread = RepeatingThread(name: "cityeye-wal-sync", every: every) { [weak self] in
            let f = open(walPath, O_RDONLY | O_CLOEXEC)
            // No log file: nothing written since the last connection closed it (everything is in the database).
            guard f >= 0 || errno == ENOENT else {
                report("cannot open \(walPath) to sync it: \(String(cString: strerror(errno)))")
                return
            }
            if f >= 0 {
                defer { close(f) }
                guard fdatasync(f) == 0 else {
                    report("cannot sync \(walPath): \(String(cString: strerror(errno)))")
                    return
                }
            }
            report(nil)
            self?.lock.withLock { self?._synced += 1 }
        }
    }

    /// Passes that synced the log. A commit made when this read n is on disk once it reads n + 2 (a pass that
    /// began after the commit has ended).
    public var syncedPasses: Int { lock.withLock { _synced } }

    public func stop() {
        thread?.stop()
        thread = nil
    }

    deinit { stop() }
}
