import Model
import Ingest
import Store

/// What the pipeline does with a rejected message (docs/contract.md §3): counts it per (reason, topic), keeps it as a
/// dead letter (its payload cut to the policy's cap) while the rate limit allows, and writes both with the batch; from
/// time to time it has the store apply the retention. The rate limit's window is saved with each batch that used it,
/// so a replay cut short and run again keeps exactly the dead letters of one uninterrupted replay.
struct DeadLetterKeeper {
    let policy: DeadLetterPolicy
    private var budget: DeadLetterBudget
    private var tally = DeadLetterTally()
    private var pending: [DeadLetter] = []
    private var budgetChanged = false
    /// The engine clock at the last retention pass, and whether the store asked for another pass soon.
    private var lastRetention: Instant?
    private var retentionUnfinished = false
    /// Set to run the retention at the next write whatever the clock (the end of a replay).
    var retentionDue = false

    static let budgetStateName = "dead_letters.budget"
    /// What one retention pass deletes at most, besides what was kept since the last pass: a store with millions of
    /// rows to delete catches up over several batches instead of holding one batch's transaction for seconds, and a
    /// table over its size never grows by more than what one pass lets in.
    static let retentionPerPass = DeadLetterPruneLimit(rows: 10_000, bytes: 16 << 20)
    private var keptSinceRetention = DeadLetterPruneLimit(rows: 0, bytes: 0)

    init(policy: DeadLetterPolicy, savedBudget: [UInt8]?) {
        self.policy = policy
        budget = DeadLetterBudget(policy: policy)
        if let savedBudget { budget.restore(savedBudget) }
    }

    /// A rejected message. `source` is what the per-source limit counts (the device id, else the topic); `at` the
    /// dead letter's time; `budgetAt` the time the rate limit counts it at (`at`, unless that is not reproducible).
    mutating func reject(_ r: RejectReason, payload: UnsafeRawBufferPointer, topic: String, detail: String,
                         source: String, at: Instant, budgetAt: Instant) {
        tally.add(reason: r, topic: topic, at: at)
        // Only a kept message changes what the saved window must hold (a new minute resets it the same way again).
        guard budget.admit(source: source, at: budgetAt) else { return }
        budgetChanged = true
        let bytes = Array(payload.prefix(policy.effectivePayloadCap))
        pending.append(DeadLetter(topic: topic, payload: bytes, reason: r, detail: detail, receivedAt: at))
        keptSinceRetention.rows += 1
        keptSinceRetention.bytes += bytes.count
    }

    /// Writes the staged dead letters, the counts and the rate limit's window into the batch's transaction, and runs
    /// the retention when the engine clock moved a minute on since the last pass (or one is due or unfinished).
    mutating func write(_ tx: any StoreTransaction, clock: Instant?) throws {
        if !pending.isEmpty { try tx.append(pending) }
        if !tally.isEmpty { try tx.add(tally.counted) }
        if budgetChanged { try tx.setState(Self.budgetStateName, budget.snapshot()) }
        if let clock, retentionDue || retentionUnfinished || lastRetention.map({ clock - $0 >= Durations.minute }) ?? true {
            let limit = DeadLetterPruneLimit(rows: Self.retentionPerPass.rows + keptSinceRetention.rows,
                                             bytes: Self.retentionPerPass.bytes + keptSinceRetention.bytes)
            var pass: (deleted: Int, complete: Bool)
            // A replay's end finishes the retention, however long it takes; otherwise the next batch goes on.
            repeat {
                pass = try tx.pruneDeadLetters(receivedBefore: clock - policy.maxAge, maxPayloadBytes: policy.maxTotalBytes,
                                               limit: limit)
            } while retentionDue && !pass.complete
            retentionUnfinished = !pass.complete
            retentionDue = false
            lastRetention = clock
            keptSinceRetention = DeadLetterPruneLimit(rows: 0, bytes: 0)
        }
        pending.removeAll(keepingCapacity: true)
        tally.removeAll()
        budgetChanged = false
    }
}
