import Foundation
import Model
import MQTT
import Journal
import Engine

/// The live engine's side of the ingress journal: the receive hook that appends each message before its PUBACK
/// can leave, and the start-up pass that processes what was journaled but not committed.
extension LiveEngine {
    /// Runs on the MQTT thread inside `on_message`: appends the message and stamps it with its journal position.
    /// An append that fails (disk full, I/O) is logged once and retried with backoff: the hook does not return
    /// un-journaled while the engine runs, so nothing unjournaled is acknowledged; the broker keeps the rest.
    func journalHook() -> @Sendable (inout MQTTMessage) -> Void {
        let journal = self.journal, faults = self.faults, clock = self.clock, stop = self.stopFlag
        let limit = tuning.retryLimitSeconds
        return { m in
            var backoff = Backoff(limit: limit)
            let at = clock.now()
            while true {
                do {
                    let (topic, retained) = (m.topic, m.retain)
                    m.journalEnd = try m.payload.withUnsafeBytes {
                        try journal.append(topic: topic, payload: $0, arrivedAt: at, retained: retained)
                    }
                    faults.cleared("journal", "journal \(journal.directory): appending again")
                    return
                } catch {
                    faults.report("journal", "\(error). Not acknowledging messages meanwhile (the broker keeps them); retrying with backoff")
                    // Stopping: the network loop reads nothing more; this message is processed from the inbox.
                    if stop.isSet { return }
                    Thread.sleep(forTimeInterval: backoff.delay())
                }
            }
        }
    }

    /// Before subscribing: processes every journal record after the position the store committed, in bounded
    /// batches, each at its last record's arrival time. Records already committed by an earlier batch are counted
    /// as duplicates by (device, id), as is the broker's redelivery of what this pass processes.
    func processJournal() async throws {
        let committed = try pipeline.store.state(Self.journalPositionName)
            .flatMap { JournalPosition(String(decoding: $0, as: UTF8.self)) } ?? .start
        try journal.advance(past: committed)
        // The hook blocks once two batches wait, so what is journaled and not committed is a few batches at most.
        var pending: [MQTTMessage] = []
        var arrived: [Instant] = []
        try journal.records(after: committed) { r in
            pending.append(MQTTMessage(topic: r.topic, payload: r.payload, qos: 1, retain: r.retained, journalEnd: r.end))
            arrived.append(r.arrivedAt)
        }
        guard !pending.isEmpty else { return }
        log("journal \(config.journalDir): processing \(pending.count) message(s) received before the last stop and not committed")
        var from = 0
        while from < pending.count {
            let to = min(pending.count, from + tuning.maxBatchSize)
            try await commit(Array(pending[from..<to]), now: arrived[to - 1], final: false)
            from = to
        }
    }
}
