import Foundation
import CoreMetrics
import Model
import Registry
import MQTT
import Engine
import Live
import Store
import Lease
import PostgresStore
import Webhooks

/// How a partition's engine ended.
public enum PartitionEnd: Sendable, Equatable {
    /// Asked to stop (a clean stop, or the partition given back to another engine).
    case stopped
    /// The lease is over: it was lost, or a commit found it fenced. Nothing more is committed or acknowledged.
    case lost(String)
    /// It could not go on (the store or the broker failed): nothing uncommitted was acknowledged, and the partition
    /// can be taken again, by this engine or another.
    case failed(String)
}

/// One partition's engine while this process holds its lease (docs/scale.md): the partition's messages from its own
/// broker session, acknowledged only once committed (`MQTTSource(acknowledgesAfterCommit:)`, so the broker is the
/// partition's journal); each batch, with the rule state it changed, committed into the shared PostgreSQL store in
/// one transaction that the lease fences. Crash-only: when a commit fails (the store unreachable, the lease over)
/// the broker connection is cut, so nothing uncommitted is acknowledged, and the partition goes to its next holder
/// (this engine again, or another), which starts from what the store committed and what the broker kept.
/// The loop runs on a thread of its own: commits block, and must not hold up the lease renewals on the shared pool.
public final class PartitionEngine: @unchecked Sendable {
    public let partition: String
    public let lease: Lease
    let pipeline: Pipeline
    /// The partition's share of the store (the pipeline's), for the lease check of a batch with nothing to commit.
    let store: PostgresStore
    /// One broker session per broker the partition hears (one, but for the partition of the rules keyed across
    /// communities when the city's partitions use several brokers).
    let sources: [(source: MQTTSource, settings: MQTTSettings)]
    let tuning: LiveTuning
    let clock: WallClock
    let log: @Sendable (String) -> Void
    private let wake = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopAsked = false
    private var lostWhy: String?
    private var _counts = IngestCounts()
    private var _ended: PartitionEnd?
    /// Subscriptions acknowledged, by session: a session is ready once the broker acknowledged each of its filters.
    private var acknowledged: [String: Int] = [:]
    /// The broker connection dropped: the partition ends (`.failed`) and is taken again.
    private var brokerTrouble: String?
    /// The partition's series (label `partition`) of the live engine's metrics.
    private let metrics: LiveMetrics
    /// Drains the webhook outbox of the partition's communities while the partition runs here (config `webhooks`).
    private let webhooks: WebhookSender?
    /// With `capture_dir`: each batch's accepted messages, kept in the store in the batch's transaction.
    private let capture: StoreCapture?

    /// Opens the partition's share of the store (fenced by `lease`: the incidents of `communities` (nil: all) and
    /// `rules`) and a pipeline evaluating those rules on what it committed, and makes a broker session for each of
    /// `sessions` (the broker with its client id, and the topics). Throws when the store or the registry cannot be
    /// opened (then nothing was taken from the broker). `keyedDevices`: the devices the partition `keyed` hears (nil:
    /// all); a community partition counts the keyed rules' evaluations not applicable on the others.
    public init(partition: String, sessions: [LiveConfig.Broker], communities: [String]?, rules: PartitionScope.Rules,
                lease: Lease, keyedDevices: Set<String>? = nil, config: LiveConfig, target: PostgresTarget, tuning: LiveTuning,
                clock: WallClock = SystemClock(),
                metrics factory: any MetricsFactory = MetricsSystem.factory, log: @escaping @Sendable (String) -> Void) throws {
        self.partition = partition
        self.lease = lease
        self.tuning = tuning
        self.clock = clock
        self.log = log
        let scope = PartitionScope(partition: partition, communities: communities, rules: rules, lease: lease)
        // A statement unanswered for 10 s ends the partition here (its lease is lost by then anyway): the next holder
        // starts from what was committed.
        let store = try PostgresStore(target: target, queryTimeout: .seconds(10), scope: scope)
        do { try store.lockForPartitions() } catch { store.close(); throw error }
        self.store = store
        var setup = EngineSetup(registry: config.registry, rules: config.rules, store: target.description)
        setup.deadLetters = config.deadLetters
        setup.auditKeyFile = config.auditKeyFile ?? PostgresStore.defaultAuditKeyPath(target)
        setup.openStore = { _ in store }
        // A failover's takeover waits for the last hour of processed ids, not the whole 25 h (docs/scale.md).
        setup.loadsOlderKeysAside = true
        switch rules {
        case .all: break
        case .only(let ids): setup.evaluates = { ids.contains($0.id) }
        case .except(let ids):
            setup.evaluates = { !ids.contains($0.id) }
            if let keyedDevices { setup.countsGapsOf = ({ ids.contains($0.id) }, keyedDevices) }
        }
        let (opened, key) = try setup.openSealed()
        if case .failure(let e) = key { log("partition \(partition): audit rows are written unsealed: \(e)") }
        pipeline = opened
        // Not the partition `keyed`: the events it hears are its communities' partitions' too, and captured there.
        if config.captureDir != nil && partition != PartitionRunner.keyedPartition {
            // The day files are those of the deployment's first community, as a single engine's capture.
            let catalog = opened.registry.catalog
            capture = StoreCapture(timezone: catalog.communityIDs.first.flatMap(catalog.clock(ofCommunity:)) ?? .standard)
        } else {
            capture = nil
        }
        pipeline.collectsNews = tuning.announcesIncidents
        if partition == PartitionRunner.keyedPartition { pipeline.takesOnlyItsRulesEvents(devices: keyedDevices) }
        metrics = LiveMetrics(factory: factory, scenarios: Set(opened.ruleSet.rules.map(\.scenario)).sorted(),
                              dimensions: [("partition", partition)], countsMessages: partition != PartitionRunner.keyedPartition)
        do {
            sources = try sessions.map { b in
                let settings = MQTTSettings(b)
                return (try MQTTSource(settings: settings, inboxCapacity: 2 * tuning.maxBatchSize, acknowledgesAfterCommit: true), settings)
            }
            // The partition `keyed` sends nothing: its incidents' communities belong to community partitions, which send.
            if let communities, !config.webhooks.isEmpty, partition != PartitionRunner.keyedPartition {
                webhooks = WebhookSender(outbox: try PostgresOutbox(target: target, communities: communities), targets: config.webhooks,
                                         tuning: tuning.webhooks, metrics: factory, dimensions: [("partition", partition)],
                                         now: { clock.now() }, log: { log("partition \(partition): \($0)") })
            } else {
                webhooks = nil
            }
        } catch {
            store.close()
            throw error
        }
    }

    /// What the partition took in since this engine opened it.
    public var counts: IngestCounts { lock.withLock { _counts } }
    /// How it ended (nil: still running).
    public var ended: PartitionEnd? { lock.withLock { _ended } }

    /// Asks the loop to stop after the batch it is committing, if any. What was received and not committed stays
    /// with the broker for the partition's next holder.
    public func stop() {
        lock.withLock { stopAsked = true }
        wake.signal()
    }

    /// The lease is lost: the broker connection is cut at once (no acknowledgement leaves after this), and the loop
    /// ends without another commit.
    public func lose(_ why: String) {
        lock.withLock { if lostWhy == nil { lostWhy = why } }
        for s in sources { s.source.sever() }
        wake.signal()
    }

    /// Connects, then takes and commits batches until `stop()`, `lose(_:)` or a failure. Returns how it ended, with
    /// the broker connection closed and the store closed.
    public func run() async -> PartitionEnd {
        for (source, b) in sources {
            do {
                try source.start(received: nil) { [weak self] e in self?.event(e, b) }
            } catch {
                for s in sources { s.source.sever(); await s.source.stop() }
                return finish(.failed("partition \(partition): cannot start its broker session \(b.clientID) at \(b.host):\(b.port): \(error)"))
            }
        }
        let sending = webhooks.map { sender in Task { await sender.run() } }
        let end: PartitionEnd = await withCheckedContinuation { done in
            let t = Thread { [self] in done.resume(returning: loop()) }
            t.name = "cityeye-partition-\(partition)"
            t.start()
        }
        sending?.cancel()
        await sending?.value
        for s in sources {
            if end != .stopped { s.source.sever() }
            await s.source.stop()
        }
        return finish(end)
    }

    private func finish(_ end: PartitionEnd) -> PartitionEnd {
        metrics.connection(false)
        pipeline.store.close()
        lock.withLock { _ended = end }
        return end
    }

    private func event(_ e: SourceEvent, _ settings: MQTTSettings) {
        switch e {
        case .messagesWaiting: wake.signal()
        case .connected:
            metrics.connection(true)
            log("partition \(partition): connected to \(node(settings)) as \(settings.clientID)")
            // Nothing to subscribe to (the partition `keyed` when no device can affect its rules): ready now.
            if settings.topics.isEmpty { log("partition \(partition): ready, subscribed to 0 filter(s) on \(node(settings))") }
        case .ready:
            // The broker answers each filter's subscription; the session is ready when it answered them all.
            let session = settings.clientID + "@\(settings.host):\(settings.port)"
            let n = lock.withLock { () -> Int in acknowledged[session, default: 0] += 1; return acknowledged[session]! }
            guard n == settings.topics.count else { return }
            log("partition \(partition): ready, subscribed to \(settings.topics.count) filter(s) on \(node(settings))")
        case .disconnected(let reason):
            // Crash-only here too: a session that reconnected by itself could take the client id back from the
            // partition's next holder (a process woken after its lease ran out). The partition is let go instead, and
            // taken again, on a valid lease, by whichever engine's share it is.
            let first = lock.withLock { () -> Bool in
                guard !stopAsked, lostWhy == nil, brokerTrouble == nil else { return false }
                brokerTrouble = "\(settings.host):\(settings.port) \(reason)"
                return true
            }
            guard first else { return }
            metrics.connection(false)
            for s in sources { s.source.sever() }
            wake.signal()
        }
    }

    /// The node a session went to: its broker's `host:port`, or the fallback node that took it.
    private func node(_ settings: MQTTSettings) -> String {
        sources.first { $0.settings.clientID == settings.clientID && $0.settings.host == settings.host && $0.settings.port == settings.port }?
            .source.connectedNode ?? "\(settings.host):\(settings.port)"
    }

    private func loop() -> PartitionEnd {
        let delay = DispatchTimeInterval.milliseconds(max(1, tuning.maxBatchDelayMs))
        while true {
            _ = wake.wait(timeout: .now() + delay)
            let (stop, lost, trouble) = lock.withLock { (stopAsked, lostWhy, brokerTrouble) }
            if let lost { return .lost(lost) }
            if stop { return .stopped }
            if let trouble {
                return .failed("partition \(partition): the broker connection dropped (\(trouble)); the partition is let go and taken again (nothing uncommitted was acknowledged)")
            }
            switch pipeline.takeOlderKeysIfRead() {
            case .loaded(let keys, let seconds)?:
                log("partition \(partition): the dedup window's older processed ids are loaded (\(keys) keys in \(String(format: "%.2f", seconds)) s)")
            case .failed(let why)?:
                log("partition \(partition): cannot read the dedup window's older processed ids (\(why)); the next commit fails and the partition is taken again")
            case nil: break
            }
            do {
                while try takeBatch() == tuning.maxBatchSize, lock.withLock({ !stopAsked && lostWhy == nil }) {}
            } catch where lock.withLock({ lostWhy != nil }) {
                // The lease was lost while this commit ran (a frozen process woken up): that is why it failed.
                return .lost(lock.withLock { lostWhy! })
            } catch let e as StoreError where e.code == .fenced {
                return .lost(e.description)
            } catch let e as EngineError where e.storeFault?.code == .fenced {
                return .lost(e.storeFault!.description)
            } catch {
                return .failed("partition \(partition): a commit failed, so the partition is let go and taken again from what the store committed (nothing uncommitted was acknowledged): \(error)")
            }
        }
    }

    /// A batch's changes are sent to the server every so many messages (`Pipeline.process(writesEvery:)`): the
    /// server writes one part while the engine evaluates the next, instead of each waiting for the other.
    static let writesEvery = 250

    /// Commits at most a batch (from each session in turn) with the timers and SLA deadlines due by now; returns how
    /// many messages it took.
    private func takeBatch() throws -> Int {
        let now = clock.now()
        var messages: [MQTTMessage] = []
        var taken: [Int] = []
        for s in sources {
            let m = s.source.take(upTo: tuning.maxBatchSize - messages.count)
            taken.append(m.count)
            messages += m
        }
        let timersDue = pipeline.nextDue.map { $0 <= now } ?? false
        guard !messages.isEmpty || timersDue else { return 0 }
        let started = DispatchTime.now().uptimeNanoseconds
        let before = pipeline.counts
        let batch = ReceivedBatch(messages: messages)
        if !timersDue && pipeline.leavesAllToOthers(batch) {
            // Nothing to write (the partition keyed, and no event of its rules): no transaction under the write lock
            // beside the community partitions' commits, only the lease checked before the acknowledgements.
            try store.checkLease()
        } else {
            try pipeline.process(batch: batch, now: now, saveRuleState: true, capture: capture, writesEvery: Self.writesEvery)
        }
        for (s, n) in zip(sources, taken) where n > 0 { s.source.committed(n) }
        let counts = pipeline.counts
        lock.withLock { _counts = counts }
        metrics.committed(messages: messages.count, before: before, after: counts,
                          nanoseconds: DispatchTime.now().uptimeNanoseconds - started, at: now,
                          waiting: sources.map(\.source.waiting).reduce(0, +), trackedRuleKeys: pipeline.trackedRuleKeys)
        if tuning.announcesIncidents {
            for line in pipeline.news.lines(registry: pipeline.registry) { log("partition \(partition): \(line)") }
        }
        return messages.count
    }
}
