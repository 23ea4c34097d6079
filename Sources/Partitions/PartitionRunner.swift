import Foundation
import CoreMetrics
import Logging
import Model
import Registry
import Engine
import Live
import Lease
import Rules
import PostgresStore

/// Which partitions an engine process runs.
public enum PartitionChoice: Sendable, Equatable {
    /// Its fair share of all partitions among the engines alive (`PartitionPlan.fairShare`), given back and taken as
    /// engines join and leave.
    case auto
    /// These partitions, each waited for while another engine holds it.
    case fixed([String])
}

/// Lease timing for partitioned engines (docs/scale.md, "Failover").
public struct PartitionTiming: Sendable {
    /// A lease lasts this long past its last renewal, by the server's clock; an engine that stops renewing (dead, cut
    /// off, frozen) loses its partitions after at most this.
    public var ttl: Duration = .seconds(6)
    public var renewEvery: Duration = .seconds(1)
    /// The holder stops acknowledging and committing this long before its lease could expire.
    public var margin: Duration = .seconds(2)
    /// How often the engine beats on the roster, looks at who is alive and takes or gives back partitions.
    public var rebalanceEvery: Duration = .seconds(1)
    public init() {}
}

/// One engine process of a partitioned city (`cityeye run` with `partitions:`): it beats on the roster of engines,
/// holds the leases of the partitions it runs (a `LeaseKeeper` each), runs a `PartitionEngine` for each, takes free
/// partitions and gives some back as engines join and leave, and gives everything back on a clean stop.
public actor PartitionRunner {
    public nonisolated let engineID: String
    let config: LiveConfig
    let plan: PartitionPlan
    let target: PostgresTarget
    let choice: PartitionChoice
    let timing: PartitionTiming
    let tuning: LiveTuning
    let leases: PartitionLeases
    let log: @Sendable (String) -> Void
    private var communities: [String] = []
    /// The rules keyed across communities (`RuleSet.keyedAcrossCommunities`): evaluated by the partition `keyed`
    /// alone, which hears every community's broker, and left out by the others.
    private var keyedRules: [String] = []
    /// The devices the partition `keyed` hears: those whose events can affect its rules (`RuleSet.devicesThatCanAffect`), by
    /// community; nil: every device. The community partitions count the rules' evaluations not applicable on the rest.
    private var keyedDevices: [String: [String]]?
    /// The partition that owns the rules keyed across communities (when the rules folder has any).
    public static let keyedPartition = "keyed"
    private var held: [String: Held] = [:]
    /// The holder last said to keep a partition this engine waits for (said again only when it changes).
    private var waitingOn: [String: String] = [:]
    /// Partitions found with no registered community (said once each).
    private var emptyNoted: Set<String> = []
    private var troubleSaid: String?
    private var stopping = false
    private var wakeUp: CheckedContinuation<Void, Never>?
    /// What partitions that ended here had taken in (for the totals).
    private var endedCounts = IngestCounts()
    let metricsFactory: any MetricsFactory
    private var metrics: PartitionRunnerMetrics?
    private let healthBox: HealthBox

    struct Held {
        let engine: PartitionEngine
        let keeper: LeaseKeeper<ContinuousClock>
        let run: Task<PartitionEnd, Never>
        let keep: Task<Void, Never>
    }

    public init(config: LiveConfig, plan: PartitionPlan, target: PostgresTarget, choice: PartitionChoice,
                engineID: String = PartitionRunner.newEngineID(), timing: PartitionTiming = PartitionTiming(),
                tuning: LiveTuning = LiveTuning(), metrics: any MetricsFactory = MetricsSystem.factory,
                log: @escaping @Sendable (String) -> Void) {
        self.metricsFactory = metrics
        healthBox = HealthBox(PartitionRunnerHealth(engineID: engineID))
        self.config = config
        self.plan = plan
        self.target = target
        self.choice = choice
        self.engineID = engineID
        self.timing = timing
        self.tuning = tuning
        self.log = log
        // The runner says what goes wrong with the lease table itself, once per change; the table's own per-retry
        // warnings would repeat it every 50 ms–1 s.
        var logger = Logger(label: "cityeye.lease")
        logger.logLevel = .error
        // Each operation gives up after 3 s of connection trouble: a renewal races its deadline anyway, and a stop
        // asked while PostgreSQL is down is not held up longer.
        leases = PartitionLeases(target: target, retryBudget: .seconds(3), logger: logger)
    }

    /// `host-pid-random`: a restarted process is a new holder, so its tokens never pass for the old one's.
    public static func newEngineID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// The partitions this engine runs now.
    public var partitions: [String] { held.keys.sorted() }

    /// For `/healthz`, from any thread.
    public nonisolated var health: PartitionRunnerHealth { healthBox.value }

    /// What every partition run here took in, those running and those ended.
    /// The partition `keyed` hears the messages the community partitions hear: of its counts only what its rules did
    /// (incidents, occurrences, evaluations not applicable) is added, so each message is counted once.
    public var counts: IngestCounts {
        var c = endedCounts
        for h in held.values { c.add(h.engine.counts, messages: h.engine.partition != Self.keyedPartition) }
        return c
    }

    /// Runs until `stop()`: then every partition stops, its lease is released and the engine leaves the roster.
    public func run() async throws {
        let registry = try RegistryLoader.load(path: config.registry)
        communities = registry.catalog.communityIDs
        try config.checkWebhooks(communities: communities, log: log)
        let ruleSet = try RuleSet.load(directory: config.rules)
        keyedRules = ruleSet.keyedAcrossCommunities.map(\.id)
        if !keyedRules.isEmpty, let heard = ruleSet.filtered({ [keyedRules] in keyedRules.contains($0.id) }).devicesThatCanAffect(in: registry) {
            keyedDevices = Dictionary(grouping: heard.sorted(), by: { registry.catalog.device($0)!.community })
        }
        var ids = plan.partitions.map(\.id)
        if !keyedRules.isEmpty {
            if ids.contains(Self.keyedPartition) {
                throw LiveError("partitions: the id `\(Self.keyedPartition)` is reserved for the partition of the rules keyed across communities (\(keyedRules.joined(separator: ", "))); rename that partition")
            }
            ids.append(Self.keyedPartition)
        }
        if case .fixed(let wanted) = choice {
            let unknown = wanted.filter { !ids.contains($0) }
            if !unknown.isEmpty {
                throw LiveError("--partitions: no partition \(unknown.joined(separator: ", ")) in the config (it has \(ids.joined(separator: ", ")))")
            }
        }
        metrics = PartitionRunnerMetrics(factory: metricsFactory, partitions: ids)
        let mode: String
        switch choice {
        case .auto: mode = "a fair share of \(ids.count) partition(s)"
        case .fixed(let l): mode = "partition(s) \(l.joined(separator: ", "))"
        }
        log("engine \(engineID): running \(mode), store \(target); a lease lasts \(Self.seconds(timing.ttl)) s")
        if let dir = config.captureDir {
            log("engine \(engineID): the capture is kept in the store with each batch; `cityeye capture --db \(target) --dir \(dir)` writes it out as day files")
        }
        // PostgreSQL down at start: said once, tried again until it answers or the engine is stopped.
        var prepared = false
        while !stopping {
            do {
                try await leases.prepare()
                try recordWebhookTargets()
                prepared = true
                if troubleSaid != nil { log("engine \(engineID): PostgreSQL answers again") }
                troubleSaid = nil
                break
            } catch {
                let line = "engine \(engineID): cannot prepare the lease table (\(error)); retrying every 2 s"
                if troubleSaid != line { log(line); troubleSaid = line }
                await pause(.seconds(2))
            }
        }
        while !stopping {
            await rebalance(ids)
            await pause(timing.rebalanceEvery)
        }
        for p in held.keys.sorted() { await giveBack(p, why: "stopping") }
        heldChanged()
        if prepared { try? await leases.leaveRoster(engineID) }
        await leases.close()
        log("engine \(engineID): stopped; every partition given back")
    }

    /// The communities whose changes go into the store's outbox, from this engine's config (none: nothing is
    /// enqueued), for every engine and person writing the store.
    private func recordWebhookTargets() throws {
        let outbox = try PostgresOutbox(target: target, communities: nil, create: true)
        defer { outbox.close() }
        try outbox.setWebhookTargets(config.webhooks.map(\.community))
    }

    /// Asks the engine to give its partitions back and return from `run()`.
    public func stop() {
        stopping = true
        wakeUp?.resume()
        wakeUp = nil
    }

    private func pause(_ d: Duration) async {
        await withCheckedContinuation { c in
            wakeUp = c
            let me = self
            Task { try? await Task.sleep(for: d); await me.wake() }
        }
    }

    private func wake() {
        wakeUp?.resume()
        wakeUp = nil
    }

    /// One round: ended partitions let go, a heartbeat, then what to hold computed from the engines alive.
    func rebalance(_ ids: [String]) async {
        for (p, h) in held where h.engine.ended != nil { await reap(p, h) }
        let want: [String], giveBack: [String]
        do {
            try await leases.heartbeat(engineID)
            switch choice {
            case .auto:
                var live = try await leases.liveEngines(within: timing.ttl)
                if !live.contains(engineID) { live.append(engineID) }
                let share = PartitionPlan.fairShare(partitions: ids, engines: live, mine: engineID, holding: Array(held.keys))
                (want, giveBack) = (share.hold, share.giveBack)
            case .fixed(let l):
                (want, giveBack) = (l, [])
            }
            if troubleSaid != nil { log("engine \(engineID): the lease table answers again"); troubleSaid = nil }
            metrics?.leaseTable(up: true)
            healthBox.update { $0.lastHeartbeat = Date(); $0.trouble = nil }
        } catch {
            let line = "engine \(engineID): cannot reach the lease table (\(error)); the partitions held keep running while their leases last, retrying"
            if troubleSaid != line { log(line); troubleSaid = line }
            metrics?.leaseTable(up: false)
            healthBox.update { $0.trouble = "the lease table does not answer (\(error)): the partitions held run only while their leases last, and none can be taken" }
            heldChanged()
            return
        }
        for p in giveBack where !stopping { await self.giveBack(p, why: "another engine's fair share") }
        for p in want where held[p] == nil && !stopping { await take(p) }
        heldChanged()
    }

    private func heldChanged() {
        let now = partitions
        metrics?.held(now)
        healthBox.update { $0.partitions = now }
    }

    private func take(_ id: String) async {
        guard let (sessions, mine, rules) = shape(of: id) else { return }
        // The partition `keyed` is held even when no device can affect its rules: its session then subscribes
        // to nothing (and unsubscribes what an earlier configuration subscribed). A community partition that none of
        // the registry's communities falls in (a hash over few communities) has nothing to do: not taken, said once.
        guard id == Self.keyedPartition || sessions.contains(where: { !$0.topics.isEmpty }) else {
            if emptyNoted.insert(id).inserted {
                log("partition \(id): no registered community belongs to it; nothing to subscribe to, so it is not taken")
            }
            return
        }
        let keeper = LeaseKeeper(table: leases, partition: id, holder: engineID, ttl: timing.ttl, renewEvery: timing.renewEvery,
                                 margin: timing.margin, clock: ContinuousClock())
        let lease: Lease
        do {
            switch try await keeper.acquire() {
            case .held(let h):
                let who = h.holder ?? "nobody"
                if waitingOn[id] != who {
                    waitingOn[id] = who
                    log("partition \(id): held by engine \(who) (lease \(h.token), \(max(0, h.expiresInMs)) ms left); waiting for it")
                }
                return
            case .acquired(let l): lease = l
            }
        } catch {
            log("partition \(id): cannot take its lease (\(error)); trying again")
            return
        }
        waitingOn[id] = nil
        // Renewed from now on, while the partition opens: its rule state and processed keys can take longer to read
        // than a lease lasts, and a lease that ran out meanwhile would fence every commit the partition then tries.
        let loss = LeaseLossSignal()
        let keep = Task.detached { if let l = await keeper.keep() { loss.lost("\(l)") } }
        let engine: PartitionEngine
        do {
            engine = try PartitionEngine(partition: id, sessions: sessions, communities: mine, rules: rules, lease: lease,
                                         keyedDevices: keyedDevices.map { Set($0.values.joined()) }, config: config, target: target,
                                         tuning: tuning, metrics: metricsFactory, log: log)
        } catch {
            keep.cancel()
            await keep.value
            log("partition \(id): cannot open it (\(error)); its lease is given back and it is tried again")
            try? await keeper.release()
            return
        }
        loss.attach(engine)
        let heard = sessions.map { "\($0.host):\($0.port) as \($0.clientID)" }.joined(separator: ", ")
        let keyedScope = keyedDevices.map { "on the \($0.values.reduce(0) { $0 + $1.count }) device(s) whose events can affect them" } ?? "in every community"
        log("partition \(id): lease \(lease.token) taken; \(mine.map { "\($0.count) communities" } ?? "rules \(keyedRules.joined(separator: ", ")) \(keyedScope)"), broker \(heard)")
        let run = Task.detached { await engine.run() }
        held[id] = Held(engine: engine, keeper: keeper, run: run, keep: keep)
        metrics?.taken(id)
    }

    /// A partition's broker sessions (with their topics), the communities whose incidents it owns (nil: all) and its
    /// rules. The partition `keyed` hears every community on every broker the plan uses, as `<client_id>-keyed`, and
    /// evaluates only the rules keyed across communities; the others leave those rules out.
    func shape(of id: String) -> (sessions: [LiveConfig.Broker], communities: [String]?, rules: PartitionScope.Rules)? {
        shapeOfSessions(id).map { s in (s.sessions.map(keepingAlive), s.communities, s.rules) }
    }

    /// A partition's session pings at least every third of the lease, and at least every 5 s (libmosquitto's
    /// shortest): the broker drops a frozen holder's connection after 1.5 keepalives, soon after its lease expired.
    func keepingAlive(_ b: LiveConfig.Broker) -> LiveConfig.Broker {
        var b = b
        b.keepaliveS = max(5, min(b.keepaliveS, Int(timing.ttl.components.seconds) / 3))
        return b
    }

    private func shapeOfSessions(_ id: String) -> (sessions: [LiveConfig.Broker], communities: [String]?, rules: PartitionScope.Rules)? {
        if id == Self.keyedPartition && !keyedRules.isEmpty {
            let sessions = Self.keyedSessions(plan, clientID: config.broker.clientID + "-" + Self.keyedPartition,
                                              registryCommunities: communities, devices: keyedDevices)
            return (sessions, nil, .only(keyedRules))
        }
        guard let p = plan.partitions.first(where: { $0.id == id }) else { return nil }
        var b = p.broker
        b.topics = plan.topics(of: id, registryCommunities: communities)
        return ([b], plan.communities(of: id, in: communities), keyedRules.isEmpty ? .all : .except(keyedRules))
    }

    /// The sessions of the partition `keyed`: one per broker the plan uses, each subscribed there to `devices` (by
    /// community), or to every community's topics when `devices` is nil. Narrowed to devices, a session unsubscribes
    /// the communities' filters first (its persistent session may hold them from an earlier configuration).
    /// A clustered broker's nodes (a `host:port` with its `fallbacks`) are one broker: its client ids are the
    /// cluster's, so two sessions with the keyed client id on two of its nodes would take it from each other.
    static func keyedSessions(_ plan: PartitionPlan, clientID: String, registryCommunities: [String],
                              devices: [String: [String]]? = nil) -> [LiveConfig.Broker] {
        var byBroker: [String: LiveConfig.Broker] = [:]
        var order: [String] = []
        for p in plan.partitions {
            let at = ([ListenAddress(host: p.broker.host, port: p.broker.port)] + p.broker.fallbacks)
                .map { "\($0.host):\($0.port)" }.sorted().joined(separator: ",")
            if byBroker[at] == nil {
                var b = p.broker
                b.clientID = clientID
                b.topics = []
                byBroker[at] = b
                order.append(at)
            }
            guard let devices else {
                byBroker[at]!.topics += plan.topics(of: p.id, registryCommunities: registryCommunities)
                continue
            }
            for c in plan.communities(of: p.id, in: registryCommunities) {
                byBroker[at]!.topics += (devices[c] ?? []).map { PartitionPlan.filter(community: c, device: $0) }
                byBroker[at]!.unsubscribes.append(PartitionPlan.filter(community: c))
            }
        }
        return order.map { byBroker[$0]! }
    }

    /// A partition whose engine ended by itself (its lease lost, a failed commit): its keeper stops, and a lease
    /// still held is released so that any engine may take the partition at once.
    private func reap(_ id: String, _ h: Held) async {
        let end = await retire(id, h)
        switch end {
        case .lost(let why): log("partition \(id): lease lost (\(why)); its connection is cut and nothing more is committed for it")
        case .failed(let why): log(why)
        case .stopped: break
        }
        if case .lost = end { return }
        try? await h.keeper.release()
    }

    private func giveBack(_ id: String, why: String) async {
        guard let h = held[id] else { return }
        h.engine.stop()
        let end = await retire(id, h)
        if case .lost(let w) = end { log("partition \(id): lease lost (\(w))"); return }
        do {
            try await h.keeper.release()
            log("partition \(id): given back (\(why)); lease \(h.engine.lease.token) released")
        } catch {
            log("partition \(id): given back (\(why)); its lease could not be released (\(error)), so it expires by itself")
        }
    }

    /// Waits for a partition's engine to end, stops its lease keeper and counts what it took in; the lease itself
    /// is the caller's to release (or not, when it was lost).
    private func retire(_ id: String, _ h: Held) async -> PartitionEnd {
        let end = await h.run.value
        h.keep.cancel()
        await h.keep.value
        held[id] = nil
        endedCounts.add(h.engine.counts, messages: id != Self.keyedPartition)
        metrics?.ended(id, end)
        return end
    }

    static func seconds(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return s == s.rounded() ? String(Int(s)) : String(s)
    }
}

extension IngestCounts {
    /// Adds `o`; its messages (accepted, duplicates, rejected) only when `messages`.
    mutating func add(_ o: IngestCounts, messages: Bool) {
        if messages {
            accepted += o.accepted
            duplicates += o.duplicates
            for (k, v) in o.rejected { rejected[k, default: 0] += v }
            largestClockJump = max(largestClockJump, o.largestClockJump)
        }
        occurrences += o.occurrences
        for (k, v) in o.raisedByScenario { raisedByScenario[k, default: 0] += v }
        for (k, v) in o.notApplicable { notApplicable[k, default: 0] += v }
        notApplicableUntold += o.notApplicableUntold
    }
}

/// The runner's health, written by the actor and read by the `/healthz` handler on another thread.
final class HealthBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: PartitionRunnerHealth
    init(_ value: PartitionRunnerHealth) { _value = value }
    var value: PartitionRunnerHealth { lock.withLock { _value } }
    func update(_ body: (inout PartitionRunnerHealth) -> Void) { lock.withLock { body(&_value) } }
}

/// A lease lost while its partition was still opening is told to the engine once it exists.
final class LeaseLossSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var engine: PartitionEngine?
    private var why: String?

    func lost(_ why: String) {
        let engine = lock.withLock { () -> PartitionEngine? in self.why = why; return self.engine }
        engine?.lose(why)
    }

    func attach(_ engine: PartitionEngine) {
        let why = lock.withLock { () -> String? in self.engine = engine; return self.why }
        if let why { engine.lose(why) }
    }
}
