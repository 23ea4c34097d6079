import Foundation
import CoreMetrics
import Model
import Registry
import Ingest
import MQTT
import Engine
import Journal
import Store
import AuditChain
import Webhooks

/// How the live engine batches and paces its work.
public struct LiveTuning: Sendable {
    /// A batch is committed at the latest this long after its first message arrived (the engine's tick).
    public var maxBatchDelayMs: Int = 2
    /// …or as soon as it holds this many messages; a batch never holds more (the rest wait in the source).
    public var maxBatchSize: Int = 2_000
    /// Messages reaching an idle engine wait for its next tick (at most `maxBatchDelayMs`) and are committed together.
    /// false: the first message to arrive is committed at once, alone. A commit costs the same ~10 pages of the
    /// write-ahead log (and their copy into the database) whether it holds 1 message or 20: at 10,000 events/s one
    /// message a commit made 7,500 commits a second, three times the CPU, and the engine's p99 latency several times
    /// what it is with a tick's worth a commit (BENCHMARKS.md, "Live latency, sixteenth session").
    public var gathersBatches = true
    /// How long a commit waits for another process's write transaction on the store before it counts as a fault
    /// (then the engine logs it and retries with backoff, holding the batch).
    public var storeBusyTimeoutMs = 10_000
    /// Longest wait between retries of a store or journal fault, in seconds.
    public var retryLimitSeconds = 5.0
    /// Log a line for each incident dispatched, escalated, overdue or closed as it happens (`cityeye run --quiet`
    /// turns it off).
    public var announcesIncidents = true
    /// After the audit check's first pass (in the background, at start), how often the rows appended since are
    /// checked; 0: never; nil: the config's `audit_recheck`.
    public var auditRecheckEvery: Millis?
    /// Audit rows the check reads per read transaction.
    public var auditCheckRows = 5_000
    /// How many pages the store's write-ahead log holds before it is checkpointed. 10,000 (40 MB), not SQLite's 1,000:
    /// each checkpoint cycle ends with a short stall of the writer (`Store.finishCheckpoint`), and at 10,000 events/s
    /// the smaller log gave several times as many (BENCHMARKS.md, "Live latency, fifteenth session").
    public var checkpointPages: Int32 = 10_000
    /// Copy the write-ahead log into the database on a thread of its own, commits only finishing what it copied
    /// (`Store.checkpointInBackground`); false: each commit that fills the log copies all of it, as SQLite does.
    public var checkpointsInBackground = true
    /// The size of a journal segment; a segment is removed once the commits past it are on disk.
    public var journalSegmentBytes: UInt64 = 64 << 20
    /// PUBACKs leave only once the batch holding the message committed; until then the broker keeps the message and
    /// gives it to whoever next connects with the client id (docs/scale.md, "The journal"). For partitions, whose
    /// next holder may run on another machine than the local journal.
    public var acknowledgesAfterCommit = false
    /// The webhook sender's pacing and outbox retention.
    public var webhooks = WebhookSenderTuning()
    public init() {}
}

/// Figures an operator (or a benchmark) reads off a running engine.
public struct LiveStats: Sendable {
    public var counts: IngestCounts
    public var batches: Int
    public var connected: Bool
    public var lastCommitAt: Instant?
    /// Time spent in batch commits (processing included) and the longest one, in milliseconds.
    public var commitMillis: Double = 0
    public var longestCommitMillis: Double = 0
    /// Of `commitMillis`, the time the engine's thread was on a CPU (user and kernel) processing and committing
    /// batches: the rest it waited (for a core, the disk, a lock).
    public var commitCPUMillis: Double = 0
    /// The most messages one commit held (at most `LiveTuning.maxBatchSize`).
    public var largestBatch = 0
    /// Incidents not yet closed, as of the last commit.
    public var openIncidents = 0
    /// When `run()` started, when the engine last found nothing to commit, and when the broker connection last
    /// changed (for `/healthz`: `LiveHealth`).
    public var startedAt: Instant?
    public var lastIdleAt: Instant?
    public var connectionChangedAt: Instant?
    /// The store fault a held batch is being retried for, if any.
    public var storeFault: StoreFaultKind?
    /// Checkpoints of the store's write-ahead log that completed on this engine's connection.
    public var checkpoints = 0
    /// Commits that took longer than 10 ms (processing included).
    public var slowCommits = 0
}

/// The live engine (docs/contract.md §9): messages from a source (the MQTT broker) through the same pipeline as replay, on the
/// wall clock, in bounded batches. Each message is appended to the ingress journal before the broker gets its
/// PUBACK; each batch commits its effects, the rule state and its last journal position in one transaction, so a
/// restart processes the journal from there and loses nothing. At most two batches wait in memory (back-pressure
/// goes to the broker). Store and journal faults that may clear are logged and retried; timers and SLA deadlines
/// fire on time even when no message arrives. One engine per store (`EngineLock`).
public final class LiveEngine: @unchecked Sendable {
    public let config: LiveConfig
    let clock: WallClock
    let log: @Sendable (String) -> Void
    let tuning: LiveTuning
    private(set) var pipeline: Pipeline
    /// The pipeline's store: `cityeye run` keeps its store in SQLite only (its journal release follows SQLite's
    /// checkpoints), so the setup never opens another kind.
    private var db: Store
    private let setup: EngineSetup
    private let source: MessageSource
    private let capture: CaptureWriter?
    let journal: IngressJournal
    private let engineLock: EngineLock
    let faults: FaultLog
    private let inputs: AsyncStream<Input>
    private let inputContinuation: AsyncStream<Input>.Continuation
    private var announcedReady = false
    private var takeover = SessionTakeoverWatch()
    private var releasedBefore: UInt64 = 0
    /// Journal positions committed, each with the store's commit count when it committed (`Store.commitCount`), not yet
    /// released.
    private var unreleased: [(position: JournalPosition, commit: Int)] = []
    /// Syncs the journal every `journal.sync` interval (nil: `always` or `never`).
    private var journalSyncer: RepeatingThread?
    let stopFlag = StopFlag()
    private let statsLock = NSLock()
    private var _stats: LiveStats
    private let metrics: LiveMetrics
    /// The audit chains checked in the background from `run()`'s start: alarms never wait for it.
    let auditWatch: AuditWatch
    private var auditHeads = AuditHeadsLog()
    /// Drains the webhook outbox beside the engine's loop (nil: no webhooks in the config).
    private let webhooks: WebhookSender?

    enum Input: Sendable { case source(SourceEvent), tick, stop }

    /// Takes the store for this engine (refused, naming the holder, when another engine has it), opens the store,
    /// the pipeline and the journal from `config`; messages come from `source`, or from the broker the config names.
    /// Metrics go to `metrics` (by default whatever backend the process bootstrapped into swift-metrics).
    public init(config: LiveConfig, source: MessageSource? = nil, clock: WallClock = SystemClock(),
                tuning: LiveTuning = LiveTuning(), metrics: any MetricsFactory = MetricsSystem.factory,
                log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        self.clock = clock
        self.tuning = tuning
        self.log = log
        faults = FaultLog(log: log)
        engineLock = try EngineLock(store: config.store, role: "cityeye run")
        var setup = EngineSetup(registry: config.registry, rules: config.rules, store: config.store)
        setup.busyTimeoutMs = tuning.storeBusyTimeoutMs
        setup.deadLetters = config.deadLetters
        setup.auditKeyFile = config.auditKeyFile
        self.setup = setup
        let (opened, key) = try setup.openSealed()
        pipeline = opened
        db = try Self.sqlite(opened)
        db.setCheckpointPages(tuning.checkpointPages)
        if tuning.checkpointsInBackground { try db.checkpointInBackground() }
        pipeline.collectsNews = tuning.announcesIncidents
        self.metrics = LiveMetrics(factory: metrics, scenarios: Set(pipeline.ruleSet.rules.map(\.scenario)).sorted())
        let auditMetrics = AuditMetrics(factory: metrics)
        let hook = AuditHook()
        auditHook = hook
        auditWatch = AuditWatch(store: config.store, key: key, now: { [clock] in clock.now() },
                                recheckEveryMs: tuning.auditRecheckEvery ?? config.auditRecheck, chunkRows: tuning.auditCheckRows) { check, before in
            auditMetrics.record(check)
            if let line = check.logLine(after: before) { log(line) }
            hook.call(check)
        }
        webhooks = try Self.startWebhooks(config, pipeline: pipeline, db: db, tuning: tuning, metrics: metrics, clock: clock, log: log)
        journal = try IngressJournal(directory: config.journalDir, segmentBytes: tuning.journalSegmentBytes, sync: config.journalSync)
        if let dir = config.captureDir {
            // One file per local day of the deployment's first community (a city's communities share a timezone).
            let catalog = pipeline.registry.catalog
            // What a crash left past the last commit is cut: the journal hands those messages over again.
            if let committed = try pipeline.store.state(Pipeline.capturePositionName) {
                for (file, bytes) in try CaptureWriter.cutBack(directory: dir, toCommitted: String(decoding: committed, as: UTF8.self)) {
                    log("capture: cut \(bytes) bytes from \(file) that the store never committed (they are processed again from the journal)")
                }
            }
            capture = try CaptureWriter(directory: dir, timezone: catalog.communityIDs.first.flatMap(catalog.clock(ofCommunity:)) ?? .standard)
        } else {
            capture = nil
        }
        // Two batches wait at most: one being committed, the next filling.
        self.source = try source ?? MQTTSource(settings: MQTTSettings(config.broker), inboxCapacity: 2 * tuning.maxBatchSize,
                                               acknowledgesAfterCommit: tuning.acknowledgesAfterCommit)
        (inputs, inputContinuation) = AsyncStream<Input>.makeStream(bufferingPolicy: .unbounded)
        _stats = LiveStats(counts: IngestCounts(), batches: 0, connected: false, lastCommitAt: nil)
    }

    /// Called after each commit with the number of messages it made durable (benchmarks measure latency with it).
    public var onCommit: (@Sendable (_ messages: Int, _ at: Instant) -> Void)?

    /// Called on the audit check's thread after each change of the check (tests hold the check there to see that
    /// alarms do not wait for it). Set before `run()`.
    public var onAuditCheck: (@Sendable (AuditCheck) -> Void)? {
        get { auditHook.body }
        set { auditHook.body = newValue }
    }
    private let auditHook: AuditHook

    /// Messages received and not yet taken into a batch (at most two batches with the broker).
    public var waiting: Int { source.waiting }

    public var stats: LiveStats { statsLock.lock(); defer { statsLock.unlock() }; return _stats }

    /// Whether the engine is connected and committing, as `/healthz` tells it (a copy of `stats`, no engine lock held),
    /// with where the audit check stands (which never makes the engine unhealthy).
    public func health() -> LiveHealth { LiveHealth(stats, now: clock.now(), audit: auditWatch.state) }

    /// Where the background audit check stands.
    public var auditCheck: AuditCheck { auditWatch.state }

    /// Asks the engine to stop: it stops taking messages, commits what it has, and `run()` returns.
    public func stop() { stopFlag.set(); inputContinuation.yield(.stop) }

    /// Runs until `stop()`. Returns after the final commit; the store is closed.
    public func run() async throws {
        defer { engineLock.release() }
        let startedAt = clock.now()
        statsLock.withLock { _stats.startedAt = startedAt }
        // A broken chain or an unreadable key is said loudly (by the watch, when found), and alarms are processed
        // all the same: the check runs beside them.
        defer { auditWatch.stop() }
        let every = auditWatch.recheckEveryMs
        log("audit check: verifying the audit chains in the background; alarms are processed meanwhile"
            + (every > 0 ? ", then rows added are verified every \(Durations.describe(every))" : ""))
        auditWatch.start()
        journalSyncer = startJournalSyncer()
        defer { journalSyncer?.stop() }
        try await processJournal()
        try source.start(received: journalHook()) { [inputContinuation] e in inputContinuation.yield(.source(e)) }
        let sender = webhooks.map { w in Task { await w.run() } }
        defer { sender?.cancel() }
        let delay = UInt64(max(1, tuning.maxBatchDelayMs)) * 1_000_000
        let ticker = Task { [inputContinuation] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: delay)
                inputContinuation.yield(.tick)
            }
        }
        log("connecting to \(config.broker.host):\(config.broker.port) as \(config.broker.clientID)")
        var stopping = false
        do {
            for await input in inputs {
                switch input {
                case .source(.messagesWaiting):
                    // Fewer than a full batch wait for the tick to gather more.
                    if tuning.gathersBatches && source.waiting < tuning.maxBatchSize { continue }
                    try await takeBatch()
                case .tick:
                    try await takeBatch()
                case .source(.connected):
                    setConnected(true)
                    takeover.connected(at: clock.now())
                    log("connected to \(config.broker.host):\(config.broker.port)")
                case .source(.ready):
                    if !announcedReady {
                        announcedReady = true
                        log("ready: subscribed to \(config.broker.topics.joined(separator: ", ")) on \(config.broker.host):\(config.broker.port) as \(config.broker.clientID), store \(config.store)")
                    }
                case .source(.disconnected(let reason)):
                    setConnected(false)
                    if stopping { break }
                    if takeover.disconnected(at: clock.now()) {
                        log("the broker keeps closing this engine's connection right after it connects: another client is "
                            + "probably connected with the same client id \(config.broker.clientID) (the broker gives the session "
                            + "to whichever connected last). Give each engine its own broker.client_id and its own store.")
                    }
                    // The edge's own retries already say when the next attempt is.
                    log(reason.contains("retrying") ? "broker \(reason)" : "disconnected from the broker (\(reason)); reconnecting")
                case .stop:
                    guard !stopping else { continue }
                    stopping = true
                    log("stopping: taking no more messages, committing what is in flight")
                    ticker.cancel()
                    await source.stop()
                    inputContinuation.finish()
                }
            }
            // What the source received before it stopped, in bounded batches; the last one saves the rule state.
            while try await takeBatch(stopping: true) == tuning.maxBatchSize {}
        } catch is StopDuringFault {
            ticker.cancel()
            await source.stop()
        } catch {
            ticker.cancel()
            await source.stop()
            throw error
        }
        capture?.close()
        journalSyncer?.stop()
        try? journal.flush()
        logAuditHeads(final: true)
        auditWatch.stop()
        saveAuditCheck()
        pipeline.store.close()
        let c = pipeline.counts
        log("stopped: \(c.accepted) accepted, \(c.duplicates) duplicates, \(c.rejectedTotal) rejected, \(c.raisedTotal) incidents raised")
    }

    /// Takes at most a batch from the source and commits it with the timers and SLA deadlines due by now. A full batch
    /// may have left more: the loop is woken again for it, after what is already waiting (a tick, a stop). When
    /// stopping, the last batch (not full) is committed even if empty. Returns how many it took.
    @discardableResult
    private func takeBatch(stopping: Bool = false) async throws -> Int {
        let messages = source.take(upTo: tuning.maxBatchSize)
        try await commit(messages, now: clock.now(), final: stopping && messages.count < tuning.maxBatchSize)
        if !messages.isEmpty { source.committed(messages.count) }
        db.finishCheckpoint()
        if let fault = db.checkpointFault {
            faults.report("checkpoint", "\(fault). The store's write-ahead log grows and the journal keeps its segments until "
                          + "a checkpoint succeeds (retried as messages are committed); check the disk under \(config.store)")
        } else {
            faults.cleared("checkpoint", "store \(config.store): the write-ahead log is copied into the database again")
        }
        // A full batch may have left more: they are taken next, without waiting for the tick.
        if messages.count == tuning.maxBatchSize { inputContinuation.yield(.tick) }
        saveAuditCheck()
        return messages.count
    }

    /// Commits `messages` (with their effects, the rule state and the last journal position) in one transaction.
    /// A store fault that may clear (locked, disk full, I/O) is logged once and retried with backoff; the batch is
    /// held meanwhile and the source, its inbox full, stops taking messages. Nothing is lost: a stop during the fault
    /// leaves the batch in the journal for the next start.
    func commit(_ messages: [MQTTMessage], now: Instant, final: Bool) async throws {
        let timersDue = pipeline.nextDue.map { $0 <= now } ?? false
        if messages.isEmpty && !timersDue && !final {
            statsLock.withLock { _stats.lastIdleAt = now }
            return
        }
        let started = DispatchTime.now()
        let position = messages.last(where: { $0.journalEnd != nil })?.journalEnd
        var backoff = Backoff(limit: tuning.retryLimitSeconds)
        let countsBefore = pipeline.counts
        var reopen = false
        while true {
            do {
                if reopen { try reopenPipeline(counts: countsBefore); reopen = false }
                let cpu = ThreadCPUClock.millis()
                try pipeline.process(batch: ReceivedBatch(messages: messages), now: now, saveRuleState: true, capture: capture)
                let used = ThreadCPUClock.millis() - cpu
                statsLock.withLock { _stats.commitCPUMillis += used }
                faults.cleared("store", "store \(config.store): writing again; the held batch is committed")
                break
            } catch {
                guard let fault = Self.transientStoreFault(error) else { throw error }
                faults.report("store", Self.describe(fault, store: config.store))
                let kind: StoreFaultKind = fault.code == .busy ? .busy : fault.code == .diskFull ? .diskFull : .io
                statsLock.withLock { _stats.storeFault = kind }
                if stopFlag.isSet {
                    log("stopping with \(messages.count) message(s) not committed: they are in the journal \(config.journalDir) and are processed on the next start")
                    throw StopDuringFault()
                }
                try? await Task.sleep(nanoseconds: UInt64(backoff.delay() * 1e9))
                reopen = true
            }
        }
        if let position { releaseJournal(before: position) }
        if tuning.announcesIncidents { for line in pipeline.news.lines(registry: pipeline.registry) { log(line) } }
        logAuditHeads(final: false)
        if !messages.isEmpty { onCommit?(messages.count, clock.now()) }
        let tookNs = DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds
        let took = Double(tookNs) / 1e6
        let counts = pipeline.counts
        let open = pipeline.openIncidents
        let checkpoints = db.completeCheckpoints
        metrics.committed(messages: messages.count, before: countsBefore, after: counts, nanoseconds: tookNs, at: now,
                          waiting: source.waiting, trackedRuleKeys: pipeline.trackedRuleKeys)
        statsLock.withLock {
            _stats.storeFault = nil
            _stats.commitMillis += took
            _stats.longestCommitMillis = max(_stats.longestCommitMillis, took)
            _stats.largestBatch = max(_stats.largestBatch, messages.count)
            _stats.counts = counts
            _stats.batches += 1
            _stats.lastCommitAt = now
            _stats.openIncidents = open
            _stats.checkpoints = checkpoints
            if took > 10 { _stats.slowCommits += 1 }
        }
    }

    /// After a failed transaction the pipeline's memory (rule state, processed ids, staged changes) is ahead of the
    /// store: it is opened again on what the store committed (the rule state is saved with every batch), and the held
    /// batch is processed anew.
    private func reopenPipeline(counts: IngestCounts) throws {
        _ = auditHeads.committed(pipeline.store.takeCommittedAuditHeads(), nowMs: IngressJournal.monotonicMs())
        pipeline.store.close()
        pipeline = try setup.open()
        db = try Self.sqlite(pipeline)
        db.setCheckpointPages(tuning.checkpointPages)
        if tuning.checkpointsInBackground { try db.checkpointInBackground() }
        // The new connection counts its commits from 0: later commits' positions release these segments.
        unreleased.removeAll()
        pipeline.collectsNews = tuning.announcesIncidents
        pipeline.carryOver(counts: counts)
    }

    public static let journalPositionName = "journal.position"

    /// Records the audit check's latest result in the store (`engine_state` 'audit.check') for `cityeye status`, in a
    /// transaction of its own between batches; a failure is said once and retried after the next commit.
    private func saveAuditCheck() {
        guard let check = auditWatch.takeUnsaved() else { return }
        do {
            try db.writeTransaction { try $0.setState(AuditWatch.stateName, check.json) }
            faults.cleared("audit-check", "store \(config.store): the audit check is recorded again")
        } catch {
            auditWatch.saveFailed(check)
            faults.report("audit-check", "store \(config.store): cannot record the audit check for `cityeye status` (\(error)); "
                          + "retrying after the next commit")
        }
    }

    /// Checks the config's webhook communities against the registry, records them in the store as the communities
    /// whose changes go into the outbox (people's actions from the CLI and the web read them there), and makes the
    /// sender. With no webhooks the store's targets are cleared: nothing is enqueued.
    private static func startWebhooks(_ config: LiveConfig, pipeline: Pipeline, db: Store, tuning: LiveTuning, metrics: any MetricsFactory,
                                      clock: WallClock, log: @escaping @Sendable (String) -> Void) throws -> WebhookSender? {
        try config.checkWebhooks(communities: pipeline.registry.catalog.communityIDs, log: log)
        try db.setWebhookTargets(config.webhooks.map(\.community))
        guard !config.webhooks.isEmpty else { return nil }
        return try WebhookSender(storePath: config.store, targets: config.webhooks, tuning: tuning.webhooks, metrics: metrics,
                                 now: { clock.now() }, log: log)
    }

    /// `audit heads …` after commits that moved chain heads (at most once a second), and all that is left at stop.
    private func logAuditHeads(final: Bool) {
        let moved = pipeline.store.takeCommittedAuditHeads()
        let line = final ? auditHeads.stopping(moved) : auditHeads.committed(moved, nowMs: IngressJournal.monotonicMs())
        if let line { log(line) }
    }

    /// The SQLite store under a pipeline the live engine opened (see `db`).
    private static func sqlite(_ pipeline: Pipeline) throws -> Store {
        guard let store = pipeline.store as? Store else {
            throw LiveError("store \(pipeline.store.path): `cityeye run` keeps its store in SQLite only for now (docs/scale.md)")
        }
        return store
    }

    static func transientStoreFault(_ error: Error) -> StoreError? {
        if let e = error as? StoreError, e.isTransient { return e }
        if let e = error as? EngineError, let f = e.storeFault, f.isTransient { return f }
        return nil
    }

    static func describe(_ fault: StoreError, store: String) -> String {
        let what: String
        switch fault.code {
        case .busy: what = "another process holds a write transaction on it (a long `sqlite3` session, a second writer); end that transaction"
        case .diskFull: what = "the disk under it is full; free space there"
        default: what = "a read or write below SQLite failed; check the disk and the file system"
        }
        return "store \(store): \(what). Not taking messages meanwhile (the broker keeps them); retrying with backoff. (\(fault))"
    }

    /// A journal segment is removed only once the commits past it are on disk: with `synchronous = NORMAL` the store's
    /// commits survive a power cut only once a checkpoint has synced its write-ahead log (`Store.durableCommits`),
    /// and until then the journal must still hold what they committed.
    private func releaseJournal(before committed: JournalPosition) {
        if committed.segment > (unreleased.last?.position.segment ?? releasedBefore) {
            unreleased.append((committed, db.commitCount))
        }
        let synced = db.durableCommits
        guard let durable = unreleased.lastIndex(where: { synced >= $0.commit }) else { return }
        let position = unreleased[durable].position
        unreleased.removeFirst(durable + 1)
        guard position.segment > releasedBefore else { return }
        do {
            try journal.release(upTo: position)
            releasedBefore = position.segment
        } catch {
            log("\(error) (a committed journal segment stays on disk; it is removed after a later commit)")
        }
    }

    /// The journal's interval sync, on a thread of its own: an fsync can take tens of milliseconds, and it must hold
    /// up neither a message nor a commit.
    private func startJournalSyncer() -> RepeatingThread? {
        let faults = self.faults, journal = self.journal
        guard case .interval(let ms) = journal.sync else { return nil }
        return RepeatingThread(name: "cityeye-journal-sync", every: Double(ms) / 1000) {
            do {
                try journal.flush()
                faults.cleared("journal-sync", "journal \(journal.directory): synced to disk again")
            } catch {
                faults.report("journal-sync", "\(error) (what is journaled survives a crash of this process, not a power cut, until a sync succeeds; retrying)")
            }
        }
    }

    private func setConnected(_ c: Bool) {
        let now = clock.now()
        statsLock.withLock {
            if _stats.connected != c { _stats.connectionChangedAt = now }
            _stats.connected = c
        }
        metrics.connection(c)
    }
}

/// `LiveEngine.onAuditCheck`, held where the check's closure (made before the engine exists) can reach it.
final class AuditHook: @unchecked Sendable {
    private let lock = NSLock()
    private var _body: (@Sendable (AuditCheck) -> Void)?
    var body: (@Sendable (AuditCheck) -> Void)? {
        get { lock.withLock { _body } }
        set { lock.withLock { _body = newValue } }
    }
    func call(_ check: AuditCheck) { body?(check) }
}

/// Thread-safe "stop was asked" flag, read where the loop cannot wait for its inputs (a retry, the receive hook).
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// A stop asked while a store fault held a batch: the batch stays in the journal.
struct StopDuringFault: Error {}

public struct LiveError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

extension LiveConfig {
    /// Each webhook's community must be the registry's (or "*"); says where each goes.
    public func checkWebhooks(communities: [String], log: (String) -> Void) throws {
        let known = Set(communities)
        for (i, w) in webhooks.enumerated() where w.community != Store.anyCommunity && !known.contains(w.community) {
            throw LiveError("webhooks[\(i)].community: no community `\(w.community)` in the registry \(registry) (a community id or \"*\")")
        }
        for w in webhooks { log("webhooks: \(w.community == Store.anyCommunity ? "every community" : w.community) -> \(w.url)") }
    }
}

/// CPU time of the calling thread (user and kernel), in milliseconds.
enum ThreadCPUClock {
    static func millis() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
}
