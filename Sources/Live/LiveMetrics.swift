import CoreMetrics
import Model
import Engine

/// What the live engine records after each committed batch, through swift-metrics (whatever backend the process
/// bootstrapped; `cityeye run` uses Prometheus). docs/operations.md lists every metric and what to alert on.
/// Counters move by the batch's difference in `IngestCounts`, so they equal the engine's own counts. Used from the
/// engine's loop task only. A partitioned engine keeps one per partition, each series labelled with its
/// `partition` (`dimensions`).
public final class LiveMetrics {
    private let factory: any MetricsFactory
    private let dimensions: [(String, String)]
    /// Whether the messages taken (accepted, duplicates, rejected) are counted: not for the partition `keyed`, which
    /// hears what the community partitions hear.
    private let countsMessages: Bool
    private let accepted: Counter
    private let duplicates: Counter
    private let rejected: [RejectReason: Counter]
    private var raised: [String: Counter] = [:]
    private let batches: Counter
    private let commitDuration: CoreMetrics.Timer
    private let batchMessages: Recorder
    private let inbox: Gauge
    private let connected: Gauge
    private let lastCommit: Gauge
    private let lastMessage: Gauge
    private let ruleKeys: Gauge

    public init(factory: any MetricsFactory, scenarios: [String], dimensions: [(String, String)] = [], countsMessages: Bool = true) {
        self.factory = factory
        self.dimensions = dimensions
        self.countsMessages = countsMessages
        let d = dimensions
        accepted = Counter(label: "cityeye_messages_accepted_total", dimensions: d, factory: factory)
        duplicates = Counter(label: "cityeye_messages_duplicate_total", dimensions: d, factory: factory)
        // Every reason and scenario from the start, at 0: an alert on `increase(…[5m]) > 0` needs the series to exist.
        rejected = Dictionary(uniqueKeysWithValues: RejectReason.allCases.map {
            ($0, Counter(label: "cityeye_messages_rejected_total", dimensions: d + [("reason", $0.rawValue)], factory: factory))
        })
        batches = Counter(label: "cityeye_batches_committed_total", dimensions: d, factory: factory)
        commitDuration = CoreMetrics.Timer(label: "cityeye_batch_commit_duration_seconds", dimensions: d, factory: factory)
        batchMessages = Recorder(label: "cityeye_batch_messages", dimensions: d, factory: factory)
        inbox = Gauge(label: "cityeye_inbox_messages", dimensions: d, factory: factory)
        connected = Gauge(label: "cityeye_broker_connected", dimensions: d, factory: factory)
        lastCommit = Gauge(label: "cityeye_last_commit_timestamp_seconds", dimensions: d, factory: factory)
        lastMessage = Gauge(label: "cityeye_last_message_timestamp_seconds", dimensions: d, factory: factory)
        ruleKeys = Gauge(label: "cityeye_rule_state_keys", dimensions: d, factory: factory)
        connected.record(0)
        for s in scenarios { _ = raisedCounter(s) }
    }

    /// One committed batch: `before` and `after` are the pipeline's counts around it.
    public func committed(messages: Int, before: IngestCounts, after: IngestCounts, nanoseconds: UInt64, at now: Instant,
                          waiting: Int, trackedRuleKeys: Int) {
        if countsMessages {
            accepted.increment(by: after.accepted - before.accepted)
            duplicates.increment(by: after.duplicates - before.duplicates)
            for (reason, n) in after.rejected where n != before.rejected[reason, default: 0] {
                rejected[reason]?.increment(by: n - before.rejected[reason, default: 0])
            }
        }
        for (scenario, n) in after.raisedByScenario where n != before.raisedByScenario[scenario, default: 0] {
            raisedCounter(scenario).increment(by: n - before.raisedByScenario[scenario, default: 0])
        }
        batches.increment()
        commitDuration.recordNanoseconds(Int64(nanoseconds))
        if messages > 0 {
            batchMessages.record(messages)
            lastMessage.record(Double(now.ms) / 1000)
        }
        lastCommit.record(Double(now.ms) / 1000)
        inbox.record(waiting)
        ruleKeys.record(trackedRuleKeys)
    }

    public func connection(_ up: Bool) { connected.record(up ? 1 : 0) }

    private func raisedCounter(_ scenario: String) -> Counter {
        if let c = raised[scenario] { return c }
        let c = Counter(label: "cityeye_incidents_raised_total", dimensions: dimensions + [("scenario", scenario)], factory: factory)
        raised[scenario] = c
        return c
    }
}

/// The background audit check's gauges (docs/operations.md): `cityeye_audit_chain_ok` appears once the first pass
/// ended (an alert on `== 0` must not fire while it runs), rows verified move as it reads. Recorded from the check's
/// own thread only.
final class AuditMetrics: @unchecked Sendable {
    private let factory: any MetricsFactory
    private var ok: Gauge?
    private let rows: Gauge
    private let checkedAt: Gauge
    private var brokenRow: Gauge?

    init(factory: any MetricsFactory) {
        self.factory = factory
        rows = Gauge(label: "cityeye_audit_rows_verified", factory: factory)
        checkedAt = Gauge(label: "cityeye_audit_last_check_timestamp_seconds", factory: factory)
    }

    func record(_ check: AuditCheck) {
        rows.record(check.rows)
        if let t = check.checkedAt { checkedAt.record(Double(t.ms) / 1000) }
        if let v = check.okValue {
            if ok == nil { ok = Gauge(label: "cityeye_audit_chain_ok", factory: factory) }
            ok?.record(v)
        }
        if check.state == .broken, brokenRow == nil, let row = check.row {
            brokenRow = Gauge(label: "cityeye_audit_broken_row", dimensions: [("community", check.chain ?? "")], factory: factory)
            brokenRow?.record(row)
        }
    }
}
