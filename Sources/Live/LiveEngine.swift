import Foundation
import Model
import Registry
import Ingest
import Rules
import Store
import MQTT
import Engine

/// How the live engine batches and paces its work.
public struct LiveTuning: Sendable {
    /// A batch is committed at the latest this long after its first message arrived.
    public var maxBatchDelayMs: Int = 2
    /// …or as soon as it holds this many messages.
    public var maxBatchSize: Int = 2_000
    /// How often the rule engine's state is saved so that a restart carries on (timers, windows, holds).
    public var saveStateEveryMs: Int64 = 2_000
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
}

/// The live engine (SPEC §8): MQTT messages through the same pipeline as replay, on the wall clock.
/// Every accepted event's effects are committed before the engine moves on; timers and SLA deadlines fire
/// on time even when no message arrives.
public final class LiveEngine: @unchecked Sendable {
    public let config: LiveConfig
    private let clock: WallClock
    private let log: @Sendable (String) -> Void
    private let tuning: LiveTuning
    private let pipeline: Pipeline
    private let store: Store
    private let subscriber: MQTTSubscriber
    private let capture: CaptureWriter?
    private let inputs: AsyncStream<Input>
    private let inputContinuation: AsyncStream<Input>.Continuation
    private var batch: [MQTTMessage] = []
    private var batchStarted: DispatchTime?
    private var lastStateSave: Instant?
    private var announcedReady = false
    private let statsLock = NSLock()
    private var _stats: LiveStats

    enum Input: Sendable { case mqtt(MQTTEvent), tick, stop }

    public init(config: LiveConfig, clock: WallClock = SystemClock(), tuning: LiveTuning = LiveTuning(),
                log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        self.clock = clock
        self.tuning = tuning
        self.log = log
        let registryText: String
        do { registryText = try String(contentsOfFile: config.registry, encoding: .utf8) } catch {
            throw LiveError("cannot read registry \(config.registry): \(error.localizedDescription)")
        }
        let registry = try RegistryLoader.parse(yaml: registryText, file: config.registry)
        let rules = try RuleSet.load(directory: config.rules)
        store = try Store(path: config.store, create: true)
        try Deployment.record(registryText: registryText, in: store)
        pipeline = try Pipeline(registry: registry, rules: rules, store: store)
        if let dir = config.captureDir {
            let tz = registry.communities.keys.sorted().first.map { registry.timezone(ofCommunity: $0) } ?? "Asia/Shanghai"
            capture = try CaptureWriter(directory: dir, timezone: LocalClock(identifier: tz) ?? LocalClock(identifier: "Asia/Shanghai")!)
        } else {
            capture = nil
        }
        let b = config.broker
        subscriber = try MQTTSubscriber(settings: MQTTSettings(
            host: b.host, port: b.port, clientID: b.clientID, cleanSession: false, topics: b.topics, qos: b.qos,
            keepalive: b.keepaliveS, username: b.username, password: b.password,
            tls: b.tls.map { TLSFiles(caFile: $0.caFile, certFile: $0.certFile, keyFile: $0.keyFile) }), batched: true)
        (inputs, inputContinuation) = AsyncStream<Input>.makeStream(bufferingPolicy: .unbounded)
        _stats = LiveStats(counts: IngestCounts(), batches: 0, connected: false, lastCommitAt: nil)
    }

    /// Called after each commit with the number of messages it made durable (benchmarks measure latency with it).
    public var onCommit: (@Sendable (_ messages: Int, _ at: Instant) -> Void)?

    public var stats: LiveStats { statsLock.lock(); defer { statsLock.unlock() }; return _stats }

    /// Asks the engine to stop: it stops taking messages, commits what it has, and `run()` returns.
    public func stop() { inputContinuation.yield(.stop) }

    /// Runs until `stop()`. Returns after the final commit; the store is closed.
    public func run() async throws {
        let events = subscriber.events
        let forward = Task { [inputContinuation] in
            for await e in events { inputContinuation.yield(.mqtt(e)) }
        }
        let delay = UInt64(max(1, tuning.maxBatchDelayMs)) * 1_000_000
        let ticker = Task { [inputContinuation] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: delay)
                inputContinuation.yield(.tick)
            }
        }
        try subscriber.start()
        log("connecting to \(config.broker.host):\(config.broker.port) as \(config.broker.clientID)")
        var stopping = false
        do {
            for await input in inputs {
                switch input {
                case .mqtt(.message(let m)):
                    if batch.isEmpty { batchStarted = .now() }
                    batch.append(m)
                    if batch.count >= tuning.maxBatchSize { try flush() }
                case .mqtt(.connected):
                    setConnected(true)
                    log("connected to \(config.broker.host):\(config.broker.port)")
                case .mqtt(.subscribed):
                    if !announcedReady {
                        announcedReady = true
                        log("ready: subscribed to \(config.broker.topics.joined(separator: ", ")) on \(config.broker.host):\(config.broker.port) as \(config.broker.clientID), store \(config.store)")
                    }
                case .mqtt(.disconnected(let reason)):
                    setConnected(false)
                    if stopping { break }
                    // The edge's own retries already say when the next attempt is.
                    log(reason.contains("retrying") ? "broker \(reason)" : "disconnected from the broker (\(reason)); reconnecting")
                case .mqtt(.messagesWaiting):
                    // Whatever has arrived since is taken too: under load a wake-up carries a whole batch.
                    batch.append(contentsOf: subscriber.takeMessages())
                    try flush()
                case .tick:
                    batch.append(contentsOf: subscriber.takeMessages())
                    try flush()
                case .stop:
                    guard !stopping else { continue }
                    stopping = true
                    log("stopping: taking no more messages, committing what is in flight")
                    ticker.cancel()
                    subscriber.stop()
                    _ = await forward.value
                    batch.append(contentsOf: subscriber.takeMessages())
                    inputContinuation.finish()
                }
            }
            try flush(final: true)
        } catch {
            ticker.cancel()
            subscriber.stop()
            throw error
        }
        capture?.close()
        store.close()
        let c = pipeline.counts
        log("stopped: \(c.accepted) accepted, \(c.duplicates) duplicates, \(c.rejectedTotal) rejected, \(c.raisedTotal) incidents raised")
    }

    /// Commits the batch if it is due (or `final`), and fires timers and SLA deadlines that are due.
    private func flush(final: Bool = false) throws {
        let now = clock.now()
        let timersDue = pipeline.nextDue.map { $0 <= now } ?? false
        let saveState = final || lastStateSave.map { now - $0 >= tuning.saveStateEveryMs } ?? true
        if batch.isEmpty && !timersDue && !saveState { return }
        let messages = batch
        batch.removeAll(keepingCapacity: true)
        let started = DispatchTime.now()
        try store.writeTransaction { tx in
            try pipeline.syncPeopleChanges(tx)
            pipeline.advance(to: now)
            for m in messages {
                let outcome = m.payload.withUnsafeBytes { pipeline.handle($0, topic: m.topic, now: now) }
                if case .accepted = outcome, let capture {
                    try m.payload.withUnsafeBytes { try capture.append(payload: $0, topic: m.topic, at: now) }
                }
            }
            try capture?.flush()
            try pipeline.write(tx, saveRuleState: saveState)
        }
        if saveState { lastStateSave = now }
        if !messages.isEmpty { onCommit?(messages.count, clock.now()) }
        let took = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        statsLock.lock()
        _stats.commitMillis += took
        _stats.longestCommitMillis = max(_stats.longestCommitMillis, took)
        _stats.counts = pipeline.counts
        _stats.batches += 1
        _stats.lastCommitAt = now
        statsLock.unlock()
    }

    private func setConnected(_ c: Bool) { statsLock.lock(); _stats.connected = c; statsLock.unlock() }
}

public struct LiveError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
