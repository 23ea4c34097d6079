import Model
import Engine

/// Whether a running engine is doing its job, for `/healthz`: connected to the broker, and it committed (or found
/// nothing to commit) within `staleAfter`. A store fault shows as a commit that is getting old; its kind is named.
/// The audit check is told beside the verdict and never changes it: a broken chain must not stop alarms.
public struct LiveHealth: Sendable, Equatable {
    public static let staleAfter: Millis = 30 * Durations.second

    public var healthy: Bool
    /// What is wrong and where to look, when not healthy.
    public var reason: String?
    public var connected: Bool
    public var lastCommitAt: Instant?
    /// Since the engine last committed or found nothing to commit (from its start if neither happened yet).
    public var quietMs: Millis
    /// Where the background audit check stands (nil: not known here).
    public var audit: AuditCheck?

    public init(_ s: LiveStats, now: Instant, audit: AuditCheck? = nil) {
        self.audit = audit
        connected = s.connected
        lastCommitAt = s.lastCommitAt
        let lastProgress = [s.lastCommitAt, s.lastIdleAt, s.startedAt].compactMap { $0 }.max()
        quietMs = lastProgress.map { max(0, now - $0) } ?? 0
        var problems: [String] = []
        if !s.connected {
            let what = s.connectionChangedAt.map { "broker disconnected since \($0) (\(Self.seconds(now - $0)) ago)" }
                ?? "broker not connected since the start" + (s.startedAt.map { " at \($0) (\(Self.seconds(now - $0)) ago)" } ?? "")
            problems.append(what + ": no messages are taken; check the broker and the engine's log")
        }
        if quietMs > Self.staleAfter {
            let last = s.lastCommitAt.map { "last commit \(Self.seconds(now - $0)) ago" } ?? "no commit since the start"
            switch s.storeFault {
            case .busy?: problems.append("store busy: \(last); another process holds a write transaction on the store")
            case .diskFull?: problems.append("store disk full: \(last); free space under the store")
            case .io?: problems.append("store I/O failing: \(last); check the disk and the engine's log")
            case nil: problems.append("engine stalled: \(last); see the engine's log")
            }
        }
        healthy = problems.isEmpty
        reason = problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    static func seconds(_ ms: Millis) -> String { "\(max(0, ms) / 1000) s" }
}

/// The kind of store fault the engine is retrying, if any (for `/healthz`).
public enum StoreFaultKind: Sendable, Equatable { case busy, diskFull, io }
