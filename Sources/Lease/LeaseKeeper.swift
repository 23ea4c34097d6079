import Synchronization

/// What a lease keeper needs of the lease table: `PartitionLeases` in PostgreSQL, a fake in tests.
public protocol LeaseTable: Sendable {
    func acquire(_ partition: String, holder: String, ttl: Duration) async throws(LeaseError) -> Acquisition
    func renew(_ lease: Lease, ttl: Duration) async throws(LeaseError) -> Lease
    func release(_ lease: Lease) async throws(LeaseError)
}

extension PartitionLeases: LeaseTable {}

/// Why a holder must stop work on its partition now: disconnect from the partition's broker (no more
/// acknowledgements) and commit nothing more for it.
public enum LeaseLoss: Sendable, Equatable, CustomStringConvertible {
    /// The lease table answered that this lease is over: it expired, or another holder took the partition.
    case taken(LeaseError)
    /// No renewal succeeded in time: the lease may expire by the server's clock within the safety margin.
    case unrenewed(partition: String, token: Int64, lastTrouble: String?)

    public var description: String {
        switch self {
        case .taken(let e): return "\(e)"
        case .unrenewed(let partition, let token, let trouble):
            return "partition \(partition): lease \(token) could not be renewed in time"
                + (trouble.map { " (\($0))" } ?? "") + "; it may expire any moment, so work on the partition stops"
        }
    }
}

/// Holds one partition's lease for an engine: acquires it, renews it every `renewEvery`, and says the lease is lost
/// — `keep()` returns — while it is still valid by this process's own bound: `margin` before the instant a renewal
/// sent at `t` can at the earliest expire (`t + ttl`, the server computing the expiry after it got the request). A
/// renewal that hangs (the server stopped, the network cut) does not hold the decision up: it races the deadline. So
/// an engine that acts on `keep()` stops acknowledging and committing before any other engine can take the partition.
/// The clock is injected: tests drive it by hand.
public actor LeaseKeeper<C: Clock> where C.Duration == Duration {
    public nonisolated let partition: String
    public nonisolated let holder: String
    public nonisolated let ttl: Duration
    public nonisolated let renewEvery: Duration
    public nonisolated let margin: Duration
    private let table: any LeaseTable
    private let clock: C
    /// The lease held (nil: none yet, or lost, or released).
    public private(set) var lease: Lease?
    /// Until when this holder may act for the partition, by `clock`.
    public private(set) var actUntil: C.Instant?
    /// Renewals that failed since the last one that succeeded (connection trouble, server errors).
    public private(set) var failedRenewals = 0

    /// `margin` must be shorter than `ttl`, and `renewEvery` shorter than `ttl - margin` (else the lease would lapse
    /// between two renewals): both are clamped.
    public init(table: any LeaseTable, partition: String, holder: String, ttl: Duration, renewEvery: Duration,
                margin: Duration, clock: C) {
        self.table = table
        self.partition = partition
        self.holder = holder
        self.ttl = ttl
        self.margin = min(max(margin, .zero), ttl / 2)
        self.renewEvery = min(max(renewEvery, .milliseconds(1)), (ttl - self.margin) / 2)
        self.clock = clock
    }

    /// Tries once to take the partition.
    public func acquire() async throws(LeaseError) -> Acquisition {
        let sent = clock.now
        let answer = try await table.acquire(partition, holder: holder, ttl: ttl)
        if case .acquired(let l) = answer {
            lease = l
            actUntil = sent.advanced(by: ttl - margin)
            failedRenewals = 0
        }
        return answer
    }

    /// Renews the lease until the task is cancelled (returns nil, the lease still held) or the lease is lost
    /// (returns why; the lease is dropped). Renewal trouble is retried until the deadline.
    public func keep() async -> LeaseLoss? {
        var lastTrouble: String?
        var next = clock.now.advanced(by: renewEvery)
        while let held = lease, let until = actUntil {
            do { try await clock.sleep(until: min(next, until), tolerance: nil) } catch { return nil }
            if clock.now >= until { return lose(.unrenewed(partition: partition, token: held.token, lastTrouble: lastTrouble)) }
            let sent = clock.now
            switch await renew(held, before: until) {
            case .renewed(let l):
                lease = l
                actUntil = sent.advanced(by: ttl - margin)
                failedRenewals = 0
                lastTrouble = nil
                next = sent.advanced(by: renewEvery)
            case .lost(let e):
                return lose(.taken(e))
            case .trouble(let why):
                failedRenewals += 1
                lastTrouble = why
                // Soon again, but not in a tight loop: a quarter of the renewal period.
                next = clock.now.advanced(by: renewEvery / 4)
            case .deadline:
                return lose(.unrenewed(partition: partition, token: held.token, lastTrouble: lastTrouble ?? "no answer from the lease table"))
            case .cancelled:
                return nil
            }
        }
        return nil
    }

    /// Gives the partition back (after the engine committed and disconnected) so the next holder need not wait for
    /// the expiry.
    public func release() async throws(LeaseError) {
        guard let held = lease else { return }
        lease = nil
        actUntil = nil
        try await table.release(held)
    }

    private func lose(_ loss: LeaseLoss) -> LeaseLoss {
        lease = nil
        actUntil = nil
        return loss
    }

    private enum Renewal: Sendable { case renewed(Lease), lost(LeaseError), trouble(String), deadline, cancelled }

    /// One renewal, given up at `deadline`. Not a task group: a group waits for all its children, and a renewal stuck
    /// on a server that stopped answering may not end when cancelled.
    private func renew(_ held: Lease, before deadline: C.Instant) async -> Renewal {
        let table = self.table, ttl = self.ttl, clock = self.clock
        let first = FirstAnswer<Renewal>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Renewal, Never>) in
                first.wait(c)
                first.add(Task {
                    do throws(LeaseError) {
                        first.answer(.renewed(try await table.renew(held, ttl: ttl)))
                    } catch {
                        if case .lost = error { first.answer(.lost(error)) } else { first.answer(.trouble("\(error)")) }
                    }
                })
                first.add(Task {
                    do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
                    first.answer(.deadline)
                })
            }
        } onCancel: {
            first.answer(.cancelled)
        }
    }
}

/// The first of several answers resumes the waiter; the tasks still running are cancelled and left to end alone.
private final class FirstAnswer<T: Sendable>: Sendable {
    private struct State { var waiter: CheckedContinuation<T, Never>?; var early: T?; var done = false; var tasks: [Task<Void, Never>] = [] }
    private let state = Mutex(State())

    func wait(_ c: CheckedContinuation<T, Never>) {
        let early: T? = state.withLock { s in
            if let e = s.early { s.done = true; return e }
            s.waiter = c
            return nil
        }
        if let early { c.resume(returning: early) }
    }

    func add(_ task: Task<Void, Never>) {
        let finished = state.withLock { s in
            if s.done || s.early != nil { return true }
            s.tasks.append(task)
            return false
        }
        if finished { task.cancel() }
    }

    func answer(_ value: T) {
        let (waiter, tasks): (CheckedContinuation<T, Never>?, [Task<Void, Never>]) = state.withLock { s in
            guard !s.done, s.early == nil else { return (nil, []) }
            guard let w = s.waiter else { s.early = value; return (nil, []) }
            s.done = true
            s.waiter = nil
            defer { s.tasks = [] }
            return (w, s.tasks)
        }
        waiter?.resume(returning: value)
        for t in tasks { t.cancel() }
    }
}
