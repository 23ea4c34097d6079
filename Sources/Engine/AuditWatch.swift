import Foundation
import Model
import Store
import AuditChain

/// The live engine's audit check, on a thread and a read-only store connection of its own so that alarms never wait
/// for it: a first pass over the whole trail (about 4 s per million rows), then, every `recheckEveryMs`, a pass over
/// only the rows appended since. Its state is read at any time (`/healthz`, `/metrics`); each pass's result is
/// handed to the engine to record in the store (`takeUnsaved()`). A break ends the checking: it stays reported.
public final class AuditWatch: @unchecked Sendable {
    /// Where the engine records the check (`engine_state`).
    public static let stateName = "audit.check"

    private let store: String
    private let key: Result<AuditKey, AuditKeyError>
    private let now: @Sendable () -> Instant
    public let recheckEveryMs: Millis
    private let chunkRows: Int
    private let onChange: @Sendable (_ check: AuditCheck, _ before: AuditCheck) -> Void
    private let cond = NSCondition()
    private var current: AuditCheck
    private var unsaved: AuditCheck?
    private var stopping = false
    private var recheckAsked = false
    private var running = false

    /// `recheckEveryMs` 0: no passes after the first. `onChange` is told every change (after each read of the first
    /// pass, and each pass's result), on the watch's thread.
    public init(store: String, key: Result<AuditKey, AuditKeyError>, now: @escaping @Sendable () -> Instant,
                recheckEveryMs: Millis, chunkRows: Int = 5_000,
                onChange: @escaping @Sendable (_ check: AuditCheck, _ before: AuditCheck) -> Void) {
        self.store = store
        self.key = key
        self.now = now
        self.recheckEveryMs = recheckEveryMs
        self.chunkRows = chunkRows
        self.onChange = onChange
        current = AuditCheck(state: .checking, startedAt: now())
        unsaved = current
    }

    public var state: AuditCheck { cond.withLock { current } }

    /// Starts checking on a thread of its own.
    public func start() {
        cond.withLock { running = true }
        let t = Thread { [self] in run() }
        t.name = "cityeye-audit-check"
        t.start()
    }

    /// A pass now, without waiting for the interval (tests; the first pass must have ended).
    public func recheckNow() { cond.withLock { recheckAsked = true; cond.broadcast() } }

    /// Stops after the read in progress; returns once the thread has ended.
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while running { cond.wait() }
        cond.unlock()
    }

    /// The check to record in the store, when it changed since last taken.
    public func takeUnsaved() -> AuditCheck? {
        cond.withLock {
            defer { unsaved = nil }
            return unsaved
        }
    }

    /// A record that could not be written: written with the next, unless a newer one came meanwhile.
    public func saveFailed(_ check: AuditCheck) { cond.withLock { if unsaved == nil { unsaved = check } } }

    private var isStopping: Bool { cond.withLock { stopping } }

    private func publish(_ check: AuditCheck, save: Bool) {
        let before = cond.withLock {
            let b = current
            current = check
            if save { unsaved = check }
            return b
        }
        onChange(check, before)
    }

    private func run() {
        defer { cond.withLock { running = false; cond.broadcast() } }
        let startedAt = state.startedAt
        guard case .success(let k) = key else {
            if case .failure(let e) = key { publish(.keyUnreadable(e, at: now()), save: true) }
            return
        }
        var follower = AuditFollower(key: k)
        follower.chunkRows = chunkRows
        var reader: AuditTrailReader?
        defer { reader?.close() }
        var firstDone = false
        while !isStopping {
            do {
                if reader == nil { reader = try AuditTrailReader(path: store) }
                var stopped = false
                let report = try follower.pass(reader!) { [self] soFar, upTo in
                    if !firstDone {
                        publish(AuditCheck(soFar, startedAt: startedAt, finished: nil, checkedUpTo: upTo), save: false)
                    }
                    stopped = isStopping
                    return !stopped
                }
                if stopped { return }
                firstDone = true
                publish(AuditCheck(report, startedAt: startedAt, finished: now(), checkedUpTo: follower.checkedUpTo), save: true)
                if report.firstBreak != nil { return }
            } catch {
                // The store may come back (a full disk, a lock): the next pass opens it again.
                reader?.close()
                reader = nil
                publish(.unreadable(error, store: store, startedAt: startedAt, at: now()), save: true)
            }
            guard waitForNextPass() else { return }
        }
    }

    /// Waits `recheckEveryMs` (forever when 0) or until `recheckNow()`; false when stopping.
    private func waitForNextPass() -> Bool {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(Double(recheckEveryMs) / 1000)
        while !stopping && !recheckAsked {
            if recheckEveryMs <= 0 { cond.wait() } else if !cond.wait(until: deadline) { break }
        }
        recheckAsked = false
        return !stopping
    }
}
