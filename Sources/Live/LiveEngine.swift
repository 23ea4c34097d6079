import Foundation
import Model
import Registry
import Ingest
import MQTT
import Engine

/// How the live engine batches and paces its work.
public struct LiveTuning: Sendable {
    /// A batch is committed at the latest this long after its first message arrived.
    public var maxBatchDelayMs: Int = 2
    /// …or as soon as it holds this many messages; a batch never holds more (the rest wait in the source).
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
    /// The most messages one commit held (at most `LiveTuning.maxBatchSize`).
    public var largestBatch = 0
}

/// The live engine (SPEC §8): messages from a source (the MQTT broker) through the same pipeline as replay, on the
/// wall clock, in bounded batches. Every accepted event's effects are committed before the engine moves on; timers
/// and SLA deadlines fire on time even when no message arrives.
public final class LiveEngine: @unchecked Sendable {
    public let config: LiveConfig
    private let clock: WallClock
    private let log: @Sendable (String) -> Void
    private let tuning: LiveTuning
    private let pipeline: Pipeline
    private let source: MessageSource
    private let capture: CaptureWriter?
    private let inputs: AsyncStream<Input>
    private let inputContinuation: AsyncStream<Input>.Continuation
    private var lastStateSave: Instant?
    private var announcedReady = false
    private let statsLock = NSLock()
    private var _stats: LiveStats

    enum Input: Sendable { case source(SourceEvent), tick, stop }

    /// Opens the store and the pipeline from `config`; messages come from `source`, or from the broker the config names.
    public init(config: LiveConfig, source: MessageSource? = nil, clock: WallClock = SystemClock(),
                tuning: LiveTuning = LiveTuning(), log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        self.clock = clock
        self.tuning = tuning
        self.log = log
        pipeline = try EngineSetup(registry: config.registry, rules: config.rules, store: config.store).open()
        if let dir = config.captureDir {
            // One file per local day of the deployment's first community (a city's communities share a timezone).
            let catalog = pipeline.registry.catalog
            capture = try CaptureWriter(directory: dir, timezone: catalog.communityIDs.first.flatMap(catalog.clock(ofCommunity:)) ?? .standard)
        } else {
            capture = nil
        }
        self.source = try source ?? MQTTSource(settings: MQTTSettings(config.broker))
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
        try source.start(received: nil) { [inputContinuation] e in inputContinuation.yield(.source(e)) }
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
                case .source(.messagesWaiting), .tick:
                    try takeBatch()
                case .source(.connected):
                    setConnected(true)
                    log("connected to \(config.broker.host):\(config.broker.port)")
                case .source(.ready):
                    if !announcedReady {
                        announcedReady = true
                        log("ready: subscribed to \(config.broker.topics.joined(separator: ", ")) on \(config.broker.host):\(config.broker.port) as \(config.broker.clientID), store \(config.store)")
                    }
                case .source(.disconnected(let reason)):
                    setConnected(false)
                    if stopping { break }
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
            while try takeBatch(stopping: true) == tuning.maxBatchSize {}
        } catch {
            ticker.cancel()
            await source.stop()
            throw error
        }
        capture?.close()
        pipeline.store.close()
        let c = pipeline.counts
        log("stopped: \(c.accepted) accepted, \(c.duplicates) duplicates, \(c.rejectedTotal) rejected, \(c.raisedTotal) incidents raised")
    }

    /// Takes at most a batch from the source and commits it with the timers and SLA deadlines due by now. A full batch
    /// may have left more: the loop is woken again for it, after what is already waiting (a tick, a stop). When
    /// stopping, the last batch (not full) is committed even if empty, with the rule state. Returns how many it took.
    @discardableResult
    private func takeBatch(stopping: Bool = false) throws -> Int {
        let messages = source.take(upTo: tuning.maxBatchSize)
        try commit(messages, final: stopping && messages.count < tuning.maxBatchSize)
        if messages.count == tuning.maxBatchSize { inputContinuation.yield(.source(.messagesWaiting)) }
        return messages.count
    }

    private func commit(_ messages: [MQTTMessage], final: Bool) throws {
        let now = clock.now()
        let timersDue = pipeline.nextDue.map { $0 <= now } ?? false
        let saveState = final || lastStateSave.map { now - $0 >= tuning.saveStateEveryMs } ?? true
        if messages.isEmpty && !timersDue && !saveState { return }
        let started = DispatchTime.now()
        try pipeline.process(batch: ReceivedBatch(messages: messages), now: now, saveRuleState: saveState, capture: capture)
        if saveState { lastStateSave = now }
        if !messages.isEmpty { onCommit?(messages.count, clock.now()) }
        let took = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        statsLock.lock()
        _stats.commitMillis += took
        _stats.longestCommitMillis = max(_stats.longestCommitMillis, took)
        _stats.largestBatch = max(_stats.largestBatch, messages.count)
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
