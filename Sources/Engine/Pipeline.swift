import Foundation
import Model
import Ingest
import Rules
import Incidents
import Store

/// Counts of what a pipeline took in, for summaries and metrics.
public struct IngestCounts: Sendable, Equatable {
    public var accepted = 0
    public var duplicates = 0
    public var rejected: [RejectReason: Int] = [:]
    public var raisedByScenario: [String: Int] = [:]
    public var occurrences = 0
    /// The largest step forward a replayed line moved the event-time clock (0 live).
    public var largestClockJump: Millis = 0
    /// Evaluations not applicable because of the registry (a device without an attribute the rule reads), by
    /// (rule, device), and those of pairs past the engine's limit on told-apart pairs.
    public var notApplicable: [RuleGap: Int] = [:]
    public var notApplicableUntold = 0
    public init() {}
    public var notApplicableTotal: Int { notApplicable.values.reduce(notApplicableUntold, +) }
    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
    public var raisedTotal: Int { raisedByScenario.values.reduce(0, +) }
}

/// What happened to one message.
public enum Outcome: Sendable, Equatable {
    case accepted
    case duplicate
    case rejected(Rejection)
    /// Not an event of this pipeline's rules, or not valid, in a pipeline that shares its messages with the partitions
    /// that count and record them (`takesOnlyItsRulesEvents`).
    case leftToOthers
}

/// Ingest → Rules → Incidents, with the changes staged for the Store. Replay and the live engine both drive
/// one `Pipeline` through `process(batch:now:)`, one transaction a batch; they differ only in where messages and time
/// come from. `EngineSetup.open()` makes one. Not thread-safe: one task owns it.
public final class Pipeline {
    public let registry: Registry
    public let ruleSet: RuleSet
    public let store: any EngineStore
    private var tallies = IngestCounts()
    public var counts: IngestCounts {
        var c = tallies
        c.notApplicable = rules.registryGaps
        c.notApplicableUntold = rules.gapsUntold
        return c
    }

    private let validator: EventValidator
    private let rules: RuleEngine
    private let desk: IncidentDesk
    private var processed = ProcessedIDs()
    /// `takesOnlyItsRulesEvents`: the events its rules listen to (nil: every type), the rest left to others.
    private var sharesMessages = false
    private var heardTypes: Set<EventType>?
    /// By `DeviceRef` position (nil: every device).
    private var heardDevices: [Bool]?
    /// The dedup window's older keys while they load aside (`init`'s `loadsOlderKeysAside`), and why they could not.
    private var olderKeys: OlderProcessedKeys?
    private var olderKeysFailure: (any Error)?
    private var olderKeysUntold: OlderKeysLoaded?
    /// With `loadsOlderKeysAside`: the processed ids of the last this-much event time are loaded before the pipeline
    /// takes a message, the rest of the dedup window on a thread of its own.
    public static let recentKeysWindow: Millis = Durations.hour
    private var signals: [RuleSignal] = []
    private var changes: [IncidentChange] = []

    /// Each changed incident once, in its latest state (an incident that changes twenty times in a batch is
    /// written once), and where it is in `pendingIncidents`.
    private var pendingIncidents: [Incident] = []
    private var pendingIncidentAt: [Int64: Int] = [:]
    private var pendingAudit: [AuditEntry] = []
    /// The occurrences behind incidents since the last write: the event (nil: the clock) and the incident's count
    /// after it. Only those still kept at the write's count are written (`IncidentEvent.kept`).
    private var pendingOccurrences: [(incident: Int64, seq: Int64, event: Event?, device: DeviceRef, at: Instant)] = []
    /// Incidents whose occurrences an early write of this batch wrote (`writeEarly`): the batch's last write trims them.
    private var occurrencesWrittenEarly = Set<Int64>()
    /// The audit rows an early write of this batch wrote, for `news`.
    private var auditWrittenEarly: [AuditEntry] = []
    private var deadLetters: DeadLetterKeeper
    /// What the batch being processed did to incidents, kept when `collectsNews` (the live engine's log lines).
    public private(set) var news = IncidentNews()
    public var collectsNews = false
    private var lastAuditRow: Int64 = 0
    private var lastPrune: Instant?

    /// How long (event time) a processed (device, id) stays known, so a redelivery is not counted twice.
    public static let dedupRetention: Millis = 25 * Durations.hour

    /// The rule state saved whole by versions before 0.6 (read once, then saved by key).
    static let wholeRuleStateName = "rules"
    /// Where the rule clock is saved (`engine_state`), as decimal milliseconds.
    public static let ruleClockName = "rules.clock"
    /// The next save replaces every saved key (the store held a whole snapshot).
    private var replaceRuleKeysOnSave = false
    /// Saved keys the restore dropped (their rule or device is gone), deleted with the next save.
    private var droppedRuleKeys: [(rule: String, key: String)] = []

    /// Opens the pipeline on a store: picks up not-closed incidents, processed ids and the rule state
    /// the store carries from an earlier replay or run. `deadLetters` bounds what it keeps of rejected messages.
    /// `loadsOlderKeysAside`: only the last `recentKeysWindow` of processed ids are loaded now, the rest on a thread
    /// while messages are already taken (`OlderProcessedKeys`; when the store offers a reader of its own for them).
    /// `countsGapsOf`: rules another engine evaluates on only the devices named (`EngineSetup.countsGapsOf`).
    public init(registry: Registry, rules ruleSet: RuleSet, store: any EngineStore,
                deadLetters policy: DeadLetterPolicy = DeadLetterPolicy(), loadsOlderKeysAside: Bool = false,
                countsGapsOf gapsOf: (rules: RuleSet, heardThere: Set<String>)? = nil) throws {
        self.registry = registry
        self.ruleSet = ruleSet
        self.store = store
        self.deadLetters = DeadLetterKeeper(policy: policy, savedBudget: try store.state(DeadLetterKeeper.budgetStateName))
        self.validator = EventValidator(registry: registry)
        self.rules = RuleEngine(rules: ruleSet, registry: registry, gapsOf: gapsOf)
        (droppedRuleKeys, replaceRuleKeysOnSave) = try Self.restoreRuleState(rules, from: store)
        rules.tracksStateChanges = true
        let open = try store.notClosedIncidents()
        self.desk = IncidentDesk(registry: registry, openIncidents: open, nextID: try store.maxIncidentID() + 1)
        // Also without rule state (a replay cut before its first save): what was committed is known as processed.
        if let clock = try rules.clock ?? store.latestProcessedAt() {
            let since = clock - Self.dedupRetention
            if loadsOlderKeysAside, let read = store.asideKeyReader() {
                let horizon = clock - Self.recentKeysWindow
                processed.load(try store.processedKeys(since: horizon, format: ProcessedIDs.keyFormat), at: clock)
                olderKeys = OlderProcessedKeys(since: since, horizon: horizon, clock: clock, read: read)
            } else {
                processed.load(try store.processedKeys(since: since, format: ProcessedIDs.keyFormat), at: clock)
            }
        }
        lastAuditRow = try store.transaction { try $0.lastAuditRow() }
    }

    /// Before a write: the older keys merged if read by now; if they could not be read, nothing of this pipeline is
    /// committed (a message it let through may have been one of them).
    private func takeOlderKeysOrFail() throws {
        takeOlderKeys(waiting: false)
        if let failure = olderKeysFailure {
            throw EngineError(.store, path: store.path, "cannot read the older processed ids of the dedup window: \(failure)",
                              storeFault: failure as? StoreError)
        }
    }

    /// Merges the dedup window's older keys once read (`waiting`: blocks until they are).
    private func takeOlderKeys(waiting: Bool) {
        guard let older = olderKeys, let result = waiting ? older.waitAndTake() : older.take() else { return }
        olderKeys = nil
        switch result {
        case .success(let keys):
            processed.absorb(keys)
            olderKeysUntold = .loaded(keys: keys.count, seconds: older.seconds)
        case .failure(let e):
            olderKeysFailure = e
            olderKeysUntold = .failed("\(e)")
        }
    }

    /// How the dedup window's older keys ended loading aside.
    public enum OlderKeysLoaded: Sendable, Equatable {
        case loaded(keys: Int, seconds: Double)
        /// The next commit fails (nothing is committed that they could have made a duplicate).
        case failed(String)
    }

    /// Merges the dedup window's older keys if they are read by now (between batches, so an idle partition has them
    /// too); says so once.
    public func takeOlderKeysIfRead() -> OlderKeysLoaded? {
        takeOlderKeys(waiting: false)
        defer { olderKeysUntold = nil }
        return olderKeysUntold
    }

    /// Makes this the pipeline of a partition that hears messages other partitions own (the partition `keyed`, which
    /// evaluates the rules keyed across communities): it takes only the events its rules listen to, and leaves every
    /// other message and every rejection to the partitions of the messages' communities, which count and dead-letter
    /// them (otherwise a rejected message would be recorded twice, and each message's processed id kept twice).
    /// `devices`: the devices it hears (nil: all); an event of another device is left to others too (a persistent
    /// broker session may still hold a subscription of an earlier registry).
    public func takesOnlyItsRulesEvents(devices: Set<String>? = nil) {
        sharesMessages = true
        heardTypes = ruleSet.eventTypesHeard
        heardDevices = devices.map(registry.catalog.marks)
    }

    /// Whether `batch` holds nothing for this pipeline to take (`takesOnlyItsRulesEvents`): no message of a type its
    /// rules listen to. Such a batch changes nothing here; its messages are the other partitions' to count.
    public func leavesAllToOthers<Batch: MessageBatch>(_ batch: Batch) -> Bool {
        guard sharesMessages, heardTypes != nil || heardDevices != nil else { return false }
        var all = true
        try? batch.forEachMessage { m in
            guard all, case .success(let e) = EnvelopeDecoder.decode(m.payload, devices: validator.devices) else { return }
            if hears(e) { all = false }
        }
        return all
    }

    /// Whether an event is of a type this pipeline's rules listen to and of a device it hears (always, unless
    /// `takesOnlyItsRulesEvents` named them).
    private func hears(_ e: Envelope) -> Bool {
        if let heard = heardDevices, !((e.deviceRef ?? registry.catalog.ref(of: e.device)).map { heard[$0.position] } ?? false) {
            return false
        }
        guard let heard = heardTypes else { return true }
        return e.eventType.map(heard.contains) ?? false
    }

    /// Whether the dedup window's older keys are still loading aside.
    public var loadingOlderKeys: Bool { olderKeys != nil }

    /// Goes on counting from `counts` (a pipeline opened again on the same store after a failed commit).
    public func carryOver(counts: IngestCounts) { tallies = counts }

    /// The event-time clock: the largest `ts` seen (or the time the pipeline was advanced to).
    public var clock: Instant? { rules.clock }
    public var nextDue: Instant? {
        switch (rules.nextDue, desk.nextDeadline) {
        case let (a?, b?): return min(a, b)
        case let (a, b): return a ?? b
        }
    }
    public var trackedRuleKeys: Int { rules.trackedKeys }
    /// Estimated memory of the rule engine's state (keys, windows, timers).
    public var ruleStateBytes: Int { rules.stateBytes }
    public var pendingRuleTimers: Int { rules.pendingTimers }
    public var ruleStateByRule: [(rule: String, keys: Int, entries: Int, bytes: Int)] { rules.stateByRule }
    public var openIncidents: Int { desk.openCount }

    /// Decodes, validates and applies one message. `topic` is the MQTT topic (nil in a log: the line's own
    /// `topic` field is used if it has one). `now` is the wall clock live (for `clock_skew` and dead-letter
    /// times), nil in a replay. `source` and `line` prefix a dead letter's detail (e.g. "day1.jsonl:17").
    /// `deadLetterRecorded`: an earlier run committed this line's dead letter and count; it is not recorded again.
    /// `retained`: delivered with MQTT's retain flag (see `isStaleRetained`).
    @discardableResult
    func handle(_ payload: UnsafeRawBufferPointer, topic: String?, now: Instant? = nil, source: String? = nil,
                line: Int = 0, deadLetterRecorded: Bool = false, retained: Bool = false) -> Outcome {
        var e: Envelope
        switch EnvelopeDecoder.decode(payload, devices: validator.devices) {
        case .failure(let r):
            reject(r, payload: payload, topic: topic, device: nil, now: now, source: source, line: line, recorded: deadLetterRecorded)
            return sharesMessages ? .leftToOthers : .rejected(r)
        case .success(let decoded):
            e = decoded
        }
        if sharesMessages && !hears(e) { return .leftToOthers }
        // Start loading what the event's rules and dedup will read while it is validated.
        rules.prefetch(deviceRef: e.deviceRef)
        let key = ProcessedIDs.key(device: e.device, id: e.id)
        processed.prefetch(key)
        switch validator.validate(&e, topic: topic) {
        case .failure(let rejection):
            // A log line carries its topic in the payload: keep it with the dead letter.
            reject(rejection, payload: payload, topic: topic ?? e.topic, device: e.device, now: now, source: source, line: line,
                   recorded: deadLetterRecorded)
            return sharesMessages ? .leftToOthers : .rejected(rejection)
        case .success(var event):
            if let r = skew(of: event.ts, now: now) {
                reject(r, payload: payload, topic: topic, device: event.device, now: now, source: source, line: line,
                       recorded: deadLetterRecorded)
                return sharesMessages ? .leftToOthers : .rejected(r)
            }
            if topic != nil { event.topic = topic }
            if retained && isStaleRetained(event.ts, now: now) {
                tallies.duplicates += 1
                return .duplicate
            }
            if let older = olderKeys, event.ts < older.horizon { takeOlderKeys(waiting: true) }
            guard processed.insert(key, at: max(event.ts, clock ?? event.ts)) else {
                tallies.duplicates += 1
                return .duplicate
            }
            if now == nil, let c = clock, event.ts > c { tallies.largestClockJump = max(tallies.largestClockJump, event.ts - c) }
            apply(event)
            return .accepted
        }
    }

    public static let maxClockSkew: Millis = 5 * Durations.minute

    /// A retained message is the broker's stored last message on its topic, sent again at every subscribe. It is
    /// processed like any other while its (device, id) can still be recognised, and counted as a duplicate once its
    /// event is older than the dedup window: otherwise every reconnect after a day would raise its incident again.
    func isStaleRetained(_ ts: Instant, now: Instant?) -> Bool {
        guard let reference = now ?? clock else { return false }
        return ts.ms < reference.ms - Self.dedupRetention
    }

    /// How far one replayed line may move the clock on (docs/contract.md §7: a configured maximum jump, 30 days by default).
    public var maxClockJump: Millis = 30 * Durations.day
    /// The wall clock, for replay's bound (read again every 65,536 lines, not per line).
    public var wallClock: @Sendable () -> Instant = { Instant(ms: Int64((Date().timeIntervalSince1970 * 1000).rounded())) }
    private var replayWall: (at: Instant, lines: Int)?

    /// `clock_skew` (docs/contract.md §7): live, a `ts` more than 5 min ahead of the wall clock; in a replay, a line more than
    /// 5 min ahead of the wall clock or ahead of the replay clock by more than `maxClockJump` — so that one line
    /// (dated 9999, or 2036) cannot escalate and mark overdue everything, and a log cannot walk the clock past now.
    private func skew(of ts: Instant, now: Instant?) -> Rejection? {
        if let now {
            guard ts.ms - now.ms > Self.maxClockSkew else { return nil }
            return Rejection(.clockSkew, "ts \(ts) is more than 5 min ahead of the engine clock \(now)")
        }
        if replayWall == nil || replayWall!.lines >= 65_536 { replayWall = (wallClock(), 0) }
        replayWall!.lines += 1
        let wall = replayWall!.at
        if ts.ms - wall.ms > Self.maxClockSkew {
            return Rejection(.clockSkew, "ts \(ts) is more than 5 min ahead of the wall clock \(wall)")
        }
        if let c = clock, ts.ms - c.ms > maxClockJump {
            return Rejection(.clockSkew, "ts \(ts) would move the replay clock on from \(c) by more than the maximum jump (\(Durations.describe(maxClockJump)))")
        }
        return nil
    }

    /// Prepares for about `events` more messages (a replay's estimate from the size of its logs).
    func expect(events: Int) {
        processed.reserve(processed.count + min(events, Self.maxReservedIDs))
    }

    /// 8M pairs is a 256 MB table (16-byte slots, at most half full): beyond that it grows as it fills.
    static let maxReservedIDs = 8 << 20

    /// Applies an already validated event (rules, then incidents).
    func apply(_ event: Event) {
        tallies.accepted += 1
        signals.removeAll(keepingCapacity: true)
        rules.ingest(event, into: &signals)
        route(signals, event: event, caused: rules.eventSignals)
    }

    /// Moves the clock to `t` (if later): fires rule timers and SLA deadlines due by then, in time order.
    func advance(to t: Instant) {
        signals.removeAll(keepingCapacity: true)
        rules.advance(to: t, into: &signals)
        route(signals)
        desk.advance(to: t, into: &changes)
        stage()
    }

    /// `caused`: where in `signals` those that `event` caused are (the others came from rule timers).
    private func route(_ signals: [RuleSignal], event: Event? = nil, caused: Range<Int> = 0..<0) {
        for (n, s) in signals.enumerated() {
            let at: Instant
            var device: DeviceRef?
            switch s {
            case .occurrence(_, _, let d, let t): at = t; device = d; tallies.occurrences += 1
            case .cleared(_, _, _, let t): at = t
            }
            // SLA deadlines due before this signal happen before it.
            desk.advance(to: at, into: &changes)
            desk.apply(s, into: &changes)
            // An occurrence makes exactly one change, the last: its incident, raised or repeated.
            if let device, let i = changes.last?.incident {
                pendingOccurrences.append((i.id, i.count, caused.contains(n) ? event : nil, device, at))
            }
        }
        if let clock = rules.clock { desk.advance(to: clock, into: &changes) }
        stage()
    }

    private func stage() {
        guard !changes.isEmpty else { return }
        for c in changes {
            if let i = pendingIncidentAt[c.incident.id] {
                pendingIncidents[i] = c.incident
            } else {
                pendingIncidentAt[c.incident.id] = pendingIncidents.count
                pendingIncidents.append(c.incident)
            }
            for a in c.audit {
                if a.action == .raised { tallies.raisedByScenario[c.incident.scenario, default: 0] += 1 }
                pendingAudit.append(a)
            }
        }
        changes.removeAll(keepingCapacity: true)
    }

    /// Counts a rejection and hands it to the dead letters. `device`: the one the envelope names, if it could be read
    /// (the rate limit's source; else the topic). `recorded`: an earlier run committed it (see `handle`).
    private func reject(_ r: Rejection, payload: UnsafeRawBufferPointer, topic: String?, device: String?, now: Instant?,
                        source: String?, line: Int, recorded: Bool) {
        // The partition that owns the message's community counts and records it.
        if sharesMessages { return }
        tallies.rejected[r.reason, default: 0] += 1
        guard !recorded else { return }
        let detail = source.map { "\($0):\(line): \(r.detail)" } ?? r.detail
        // Live: the wall clock. Replay: the event-time clock, or the wall clock before the first accepted event; the
        // rate limit counts those at one fixed time instead, so that every replay of a log keeps the same ones.
        let stamp = now ?? clock
        let at = stamp ?? Instant(ms: Int64(Date().timeIntervalSince1970 * 1000))
        let topic = topic ?? ""
        let limitedAs = device.flatMap { $0.isEmpty ? nil : $0 } ?? topic
        deadLetters.reject(r.reason, payload: payload, topic: topic, detail: detail, source: limitedAs, at: at,
                           budgetAt: stamp ?? Instant(ms: 0))
    }

    /// Runs the dead-letter retention at the next batch, whether or not the clock moved a minute on (a replay's end).
    public func retainDeadLettersAtNextBatch() { deadLetters.retentionDue = true }

    /// Picks up what people changed (ack, resolve, close, reopen from the CLI) since the last batch, so that
    /// dedup and workload follow them. First inside the write transaction of a batch.
    func syncPeopleChanges(_ tx: any StoreTransaction) throws {
        if let shared = try tx.sharedMaxIncidentID() { desk.reserveIDs(above: shared) }
        let (last, incidents) = try tx.peopleChanges(afterAuditRow: lastAuditRow)
        if collectsNews { news = IncidentNews(closedByPeople: incidents.filter { $0.status == .closed }) }
        for i in incidents {
            let merged = desk.refresh(i)
            // Changes still staged (a batch whose write failed): written as staged, they would undo what people did.
            if let p = pendingIncidentAt[i.id] { pendingIncidents[p] = merged }
        }
        lastAuditRow = max(lastAuditRow, last)
    }

    /// Writes everything staged since the last commit into `tx`: incidents, audit, dead letters, processed ids,
    /// (when `saveRuleState`) the rule engine's state so a restart carries on where it stopped, and where the batch's
    /// input stands (`progress`).
    func write(_ tx: any StoreTransaction, saveRuleState: Bool, progress: BatchProgress? = nil) throws {
        try takeOlderKeysOrFail()
        if !pendingIncidents.isEmpty { try tx.upsert(pendingIncidents) }
        if !pendingAudit.isEmpty { lastAuditRow = try tx.append(pendingAudit, chains: pendingAudit.map(chain)) }
        if !pendingOccurrences.isEmpty || !occurrencesWrittenEarly.isEmpty { try writeOccurrences(tx, trimming: true) }
        if collectsNews { news.collect(auditWrittenEarly + pendingAudit, of: pendingIncidents) }
        try deadLetters.write(tx, clock: rules.clock)
        let keys = processed.takePending()
        if let clock = rules.clock {
            try tx.appendProcessed(keys: keys, at: clock, format: ProcessedIDs.keyFormat)
            if lastPrune.map({ clock - $0 >= Durations.hour }) ?? true {
                processed.prune(before: clock - Self.dedupRetention)
                try tx.pruneProcessed(before: clock - Self.dedupRetention)
                lastPrune = clock
            }
        }
        if saveRuleState { try saveRules(tx) }
        if let progress { try tx.setState(progress.name, Array(progress.value.utf8)) }
        pendingIncidents.removeAll(keepingCapacity: true)
        pendingIncidentAt.removeAll(keepingCapacity: true)
        pendingAudit.removeAll(keepingCapacity: true)
        pendingOccurrences.removeAll(keepingCapacity: true)
        occurrencesWrittenEarly.removeAll(keepingCapacity: true)
        auditWrittenEarly.removeAll(keepingCapacity: true)
    }

    /// Writes early, inside a batch's transaction, what only grows: audit rows, the occurrences kept so far and dead
    /// letters (`process(writesEvery:)`). The incidents (each written once, as the batch leaves it), the trimming of
    /// their occurrences, the processed ids (one row a batch, as a takeover reads them) and the rule state wait for
    /// the batch's last `write`: written after each part, an incident that every part repeats would be rewritten as
    /// often.
    func writeEarly(_ tx: any StoreTransaction) throws {
        try takeOlderKeysOrFail()
        if !pendingAudit.isEmpty {
            lastAuditRow = try tx.append(pendingAudit, chains: pendingAudit.map(chain))
            if collectsNews { auditWrittenEarly += pendingAudit }
            pendingAudit.removeAll(keepingCapacity: true)
        }
        if !pendingOccurrences.isEmpty {
            try writeOccurrences(tx, trimming: false)
            pendingOccurrences.removeAll(keepingCapacity: true)
        }
        try deadLetters.write(tx, clock: rules.clock)
    }

    /// The staged occurrences still kept at their incident's count as this batch leaves it (or, `trimming` false, as
    /// the batch stands so far), with the events' data as compact JSON; when `trimming`, each such incident's count
    /// (and each of those an early write wrote), so that the store drops those no longer kept.
    private func writeOccurrences(_ tx: any StoreTransaction, trimming: Bool) throws {
        var counts: [(incident: Int64, count: Int64)] = []
        var counted = Set<Int64>()
        var kept: [IncidentEvent] = []
        if trimming {
            for id in occurrencesWrittenEarly.sorted() {
                guard let p = pendingIncidentAt[id] else { continue }
                counted.insert(id)
                counts.append((id, pendingIncidents[p].count))
            }
        }
        for o in pendingOccurrences {
            guard let p = pendingIncidentAt[o.incident] else { continue }
            let count = pendingIncidents[p].count
            if trimming {
                if counted.insert(o.incident).inserted { counts.append((o.incident, count)) }
            } else {
                occurrencesWrittenEarly.insert(o.incident)
            }
            guard IncidentEvent.kept(seq: o.seq, count: count) else { continue }
            if let e = o.event {
                kept.append(IncidentEvent(incident: o.incident, seq: o.seq, eventID: e.id, device: e.device, type: e.type.rawValue,
                                          ts: e.ts, data: e.data.compactJSON))
            } else {
                let incident = pendingIncidents[p]
                let timer = rules.timerStart(rule: incident.rule, device: o.device, due: o.at)
                kept.append(IncidentEvent(incident: o.incident, seq: o.seq, eventID: "", device: registry.catalog[o.device].id,
                                          type: "", ts: o.at, data: timer.map { IncidentEvent.clockData(kind: $0.kind, since: $0.since) } ?? "{}"))
            }
        }
        try tx.writeIncidentEvents(kept, counts: counts)
    }

    /// An audit row's chain: its incident's community (every staged row's incident is staged with it).
    private func chain(of row: AuditEntry) -> String {
        pendingIncidentAt[row.incident].map { pendingIncidents[$0].community } ?? ""
    }

    /// Restores the rule state the store carries: by key, or whole as versions before 0.6 saved it.
    /// Returns the saved keys it dropped, and whether the next save must replace every key.
    private static func restoreRuleState(_ rules: RuleEngine, from store: any EngineStore) throws
        -> (dropped: [(rule: String, key: String)], replaceAll: Bool) {
        do {
            if let clock = try store.state(ruleClockName) {
                let ms = Int64(String(decoding: clock, as: UTF8.self))
                return (try rules.restore(clock: ms.map(Instant.init(ms:)), keys: try store.ruleKeys()), false)
            }
            if let whole = try store.state(wholeRuleStateName) {
                try rules.restore(whole)
                return ([], true)
            }
            return ([], false)
        } catch let e as StoreError {
            throw e
        } catch {
            throw EngineError.ruleStateUnreadable(path: store.path, detail: "\(error)")
        }
    }

    /// Saves what the batch changed of the rule state (every key once, after an older store's whole snapshot).
    private func saveRules(_ tx: any StoreTransaction) throws {
        var changes = replaceRuleKeysOnSave ? rules.allState() : rules.takeStateChanges()
        changes.removed += droppedRuleKeys
        try tx.saveRuleKeys(removed: changes.removed, written: changes.written, replaceAll: changes.replaceAll)
        if let clock = changes.clock { try tx.setState(Self.ruleClockName, Array(String(clock.ms).utf8)) }
        if changes.replaceAll { try tx.deleteState(Self.wholeRuleStateName) }
        replaceRuleKeysOnSave = false
        droppedRuleKeys = []
    }
}

/// What one batch did to incidents that people should hear of as it happens: raised and dispatched, escalated,
/// overdue (the engine's own audit rows), and closed (by people, picked up at the batch's start).
public struct IncidentNews: Sendable {
    public var audit: [AuditEntry] = []
    public var incidents: [Int64: Incident] = [:]
    public var closedByPeople: [Incident] = []

    public static let actions: Set<AuditAction> = [.dispatched, .escalated, .overdue]

    mutating func collect(_ rows: [AuditEntry], of staged: [Incident]) {
        audit = rows.filter { Self.actions.contains($0.action) }
        guard !audit.isEmpty else { return }
        let ids = Set(audit.map(\.incident))
        for i in staged where ids.contains(i.id) { incidents[i.id] = i }
    }
}

