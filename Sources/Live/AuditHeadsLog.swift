import Store
import AuditChain

/// Paces the `audit heads …` log line: after commits that moved chain heads, at most once per `intervalMs`, each
/// chain's latest head; whatever is left at stop. An operator keeps the log apart from the store, so rows cut off
/// the end of a chain are caught (`cityeye audit verify --heads LOG`).
struct AuditHeadsLog {
    var intervalMs: Int64 = 1_000
    private var pending: [String: AuditHead] = [:]
    private var lastLineAt: Int64?

    /// The line to log now, if one is due; `nowMs` is a monotonic clock.
    mutating func committed(_ heads: [String: AuditHead], nowMs: Int64) -> String? {
        pending.merge(heads) { $1 }
        if let last = lastLineAt, nowMs - last < intervalMs { return nil }
        guard let line = flush() else { return nil }
        lastLineAt = nowMs
        return line
    }

    /// Everything not yet logged.
    mutating func stopping(_ heads: [String: AuditHead]) -> String? {
        pending.merge(heads) { $1 }
        return flush()
    }

    private mutating func flush() -> String? {
        defer { pending = [:] }
        return AuditHeadsLine.format(pending)
    }
}
