import Foundation
import CoreMetrics
import Model
import Registry
import Store

/// How the sender paces itself and how long the outbox keeps rows.
public struct WebhookSenderTuning: Sendable {
    /// Rows taken per pass (a pass then waits for their answers, each target's one after another).
    public var batch = 32
    /// The wait between passes when the last one found less than a batch due (real time).
    public var pollMs = 500
    /// Delivered, failed and dropped rows are deleted this long after they were done.
    public var keepDone: Millis = 7 * Durations.day
    /// A row still undelivered this long after its change is marked failed (`expired`).
    public var maxPendingAge: Millis = 3 * Durations.day
    /// How often the retention runs.
    public var pruneEvery: Millis = Durations.hour
    public init() {}
}

/// Drains the webhook outbox (docs/operations.md, "Webhooks"): `cityeye run` runs one, on its own store connection and
/// its own task, so a slow or dead receiver never holds up a batch commit. Each pass takes the rows due, POSTs each to
/// its community's webhook with the signature and delivery-id headers, and records the outcome: a 2xx answer marks
/// it delivered; anything else (another status, a refused connection, a timeout) is retried after `backoff_s`,
/// doubling, until `max_attempts`, and is then marked failed with the last error, logged and counted. A row whose
/// community has no webhook in the running config is dropped (logged once per community). A crash between a 2xx and
/// its record sends that row again on the next start, with the same delivery id: at least once, never lost.
public final class WebhookSender: @unchecked Sendable {
    private let store: any WebhookOutbox
    private let targets: [WebhookTarget]
    private let transport: any WebhookTransport
    private let now: @Sendable () -> Instant
    private let log: @Sendable (String) -> Void
    private let tuning: WebhookSenderTuning
    private var lastPrune: Instant?
    /// Communities whose webhook failed its last attempt (a failure is logged when it starts and when it ends).
    private var failing: Set<String> = []
    private var saidNoTarget: Set<String> = []
    private var storeFault = false
    private let delivered: Counter
    private let failed: Counter
    private let dropped: Counter
    private let retried: Counter
    private let pending: Gauge

    /// Opens its own connection to the store at `storePath`. Time comes from `now` (a test moves it by hand).
    public convenience init(storePath: String, targets: [WebhookTarget], transport: any WebhookTransport = HTTPPost(),
                            tuning: WebhookSenderTuning = WebhookSenderTuning(), metrics: any MetricsFactory = MetricsSystem.factory,
                            now: @escaping @Sendable () -> Instant, log: @escaping @Sendable (String) -> Void) throws {
        self.init(outbox: try Store(path: storePath, create: false), targets: targets, transport: transport, tuning: tuning,
                  metrics: metrics, now: now, log: log)
    }

    /// Drains `outbox` (its own connection, closed with the sender). `dimensions` label its metrics (a partition's).
    public init(outbox: any WebhookOutbox, targets: [WebhookTarget], transport: any WebhookTransport = HTTPPost(),
                tuning: WebhookSenderTuning = WebhookSenderTuning(), metrics: any MetricsFactory = MetricsSystem.factory,
                dimensions: [(String, String)] = [],
                now: @escaping @Sendable () -> Instant, log: @escaping @Sendable (String) -> Void) {
        store = outbox
        self.targets = targets
        self.transport = transport
        self.tuning = tuning
        self.now = now
        self.log = log
        func outcome(_ r: String) -> Counter {
            Counter(label: "cityeye_webhook_deliveries_total", dimensions: dimensions + [("result", r)], factory: metrics)
        }
        delivered = outcome("delivered")
        failed = outcome("failed")
        dropped = outcome("dropped")
        retried = Counter(label: "cityeye_webhook_attempts_failed_total", dimensions: dimensions, factory: metrics)
        pending = Gauge(label: "cityeye_webhook_outbox_pending", dimensions: dimensions, factory: metrics)
    }

    deinit { store.close() }

    /// Passes until the task is cancelled. Store faults are logged once and retried at the next pass.
    public func run() async {
        while !Task.isCancelled {
            let sent: Int
            do {
                sent = try await pass()
                if storeFault { storeFault = false; log("webhooks: reading the outbox again") }
            } catch {
                if !storeFault { storeFault = true; log("webhooks: cannot read or update the outbox (\(error)); retrying") }
                sent = 0
            }
            if sent < tuning.batch { try? await Task.sleep(nanoseconds: UInt64(tuning.pollMs) * 1_000_000) }
        }
    }

    /// One pass: the retention when due, then at most `tuning.batch` rows due now. Returns how many were taken.
    @discardableResult
    public func pass() async throws -> Int {
        let t = now()
        if lastPrune.map({ t - $0 >= tuning.pruneEvery }) ?? true {
            let (_, expired) = try store.pruneOutbox(doneBefore: t - tuning.keepDone, pendingBefore: t - tuning.maxPendingAge, now: t)
            if expired > 0 {
                failed.increment(by: expired)
                log("webhooks: \(expired) notification(s) still undelivered after \(Durations.describe(tuning.maxPendingAge)) marked failed (expired)")
            }
            lastPrune = t
        }
        let due = try store.dueNotices(at: t, limit: tuning.batch)
        var byTarget: [String: (WebhookTarget, [OutboxEntry])] = [:]
        var outcomes: [(id: Int64, outcome: OutboxOutcome)] = []
        for row in due {
            guard let target = WebhookTarget.forCommunity(row.community, in: targets) else {
                outcomes.append((row.id, .dropped(reason: "no webhook for community \(row.community) in the config", at: t)))
                dropped.increment()
                if saidNoTarget.insert(row.community).inserted {
                    log("webhooks: community \(row.community) has notifications in the outbox but no webhook in the config: dropped")
                }
                continue
            }
            byTarget[target.community, default: (target, [])].1.append(row)
        }
        // Targets in parallel, each target's rows in order.
        let results = await withTaskGroup(of: [(OutboxEntry, WebhookTarget, String?)].self) { group in
            for (_, (target, rows)) in byTarget {
                group.addTask { [transport] in
                    var out: [(OutboxEntry, WebhookTarget, String?)] = []
                    for row in rows { out.append((row, target, await Self.attempt(row, to: target, transport: transport))) }
                    return out
                }
            }
            var all: [(OutboxEntry, WebhookTarget, String?)] = []
            for await r in group { all += r }
            return all.sorted { $0.0.id < $1.0.id }
        }
        let done = now()
        for (row, target, error) in results { outcomes.append((row.id, outcome(row, target: target, error: error, at: done))) }
        try store.record(outcomes)
        pending.record(try store.outboxCounts()[.pending] ?? 0)
        return due.count
    }

    /// POSTs one row; nil on a 2xx answer, else what went wrong.
    static func attempt(_ row: OutboxEntry, to target: WebhookTarget, transport: any WebhookTransport) async -> String? {
        let body = Array(row.body.utf8)
        let headers = [
            (WebhookSignature.signatureHeader, WebhookSignature.value(secret: target.secret, body: body)),
            (WebhookSignature.deliveryHeader, IncidentNotice.deliveryID(auditRow: row.id)),
        ]
        do {
            let status = try await transport.post(to: target.url, headers: headers, body: body, timeoutSeconds: target.timeoutSeconds)
            return (200..<300).contains(status) ? nil : "HTTP \(status)"
        } catch {
            return "\(error)"
        }
    }

    /// What an attempt makes of its row (counted and, where an operator should hear of it, logged).
    private func outcome(_ row: OutboxEntry, target: WebhookTarget, error: String?, at t: Instant) -> OutboxOutcome {
        let attempts = row.attempts + 1
        let what = "notification \(IncidentNotice.deliveryID(auditRow: row.id)) to \(target.url)"
        guard let error else {
            delivered.increment()
            if failing.remove(target.community) != nil { log("webhooks: \(target.url) answers again: \(what) delivered") }
            return .delivered(attempts: attempts, at: t)
        }
        if attempts >= target.maxAttempts {
            failed.increment()
            log("webhooks: \(what) FAILED after \(attempts) attempt(s), last: \(error); it stays in the outbox as failed")
            return .failed(attempts: attempts, error: error, at: t)
        }
        let next = t + target.backoff(afterAttempt: attempts)
        retried.increment()
        if failing.insert(target.community).inserted {
            log("webhooks: \(what) failed (attempt \(attempts) of \(target.maxAttempts): \(error)); retrying with backoff, next at \(next)")
        }
        return .retry(attempts: attempts, next: next, error: error)
    }
}
