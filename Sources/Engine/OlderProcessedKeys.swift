import Foundation
import Model
import Ingest

/// The part of the dedup window older than `horizon`, read and hashed on a thread of its own while the pipeline
/// already takes messages. A partition taken over after a failover is then ready once its last hour of processed ids
/// is loaded, not its 25 hours (millions of keys on a busy partition: seconds that would add to every failover).
/// Only a message whose event is older than `horizon` needs these keys (a pair processed before was written in a
/// batch at or after its event time, so a newer event's pair, if processed, is among the recent keys): such a message
/// waits for them (`Pipeline.handle`), everything else goes on.
final class OlderProcessedKeys: @unchecked Sendable {
    let horizon: Instant
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<ProcessedIDs, any Error>?
    private let started = DispatchTime.now()
    /// Seconds from the start of the read until the keys were hashed (0 while reading).
    private var _seconds = 0.0
    var seconds: Double { lock.withLock { _seconds } }

    /// Starts reading the keys written in [`since`, `horizon`) with `read`; they count as seen at `clock`.
    init(since: Instant, horizon: Instant, clock: Instant,
         read: @escaping @Sendable (_ since: Instant, _ before: Instant, _ format: Int) throws -> [UInt8]) {
        self.horizon = horizon
        let thread = Thread { [self] in
            let r = Result { () throws -> ProcessedIDs in
                let keys = try read(since, horizon, ProcessedIDs.keyFormat)
                var table = ProcessedIDs()
                table.reserve(keys.count / ProcessedIDs.keyBytes)
                table.load(keys, at: clock)
                return table
            }
            let took = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            lock.withLock { result = r; _seconds = took }
            done.signal()
        }
        thread.name = "cityeye-older-keys"
        thread.start()
    }

    /// The keys once read (nil: still reading). Taken once: the table is handed over, not copied.
    func take() -> Result<ProcessedIDs, any Error>? {
        lock.withLock { defer { result = nil }; return result }
    }

    /// Waits until they are read, then takes them.
    func waitAndTake() -> Result<ProcessedIDs, any Error> {
        done.wait()
        return lock.withLock { defer { result = nil }; return result! }
    }
}
