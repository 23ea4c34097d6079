import ArgumentParser
import Foundation
import Model
import Registry
import Live
import Engine
import CoreMetrics
import Telemetry
import Lease
import Partitions

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The live engine: subscribe to the broker, evaluate rules on the wall clock, dispatch incidents.",
        discussion: """
        The config (YAML) names the broker, registry, rules folder, store and an optional capture folder; relative \
        paths are relative to the config file. See README.md for an example. The engine prints one line when it is \
        subscribed and ready. SIGINT or SIGTERM: it stops taking messages, commits what it has taken and exits 0; \
        started again with the same config it carries on where it stopped (persistent MQTT session, rule state and \
        incidents in the store).

        With `metrics: {listen: "127.0.0.1:9464"}` in the config it also serves `GET /metrics` (Prometheus) and \
        `GET /healthz` (200 while connected to the broker and committing, else 503 with the reason) on that \
        address, and prints `metrics: serving http://HOST:PORT/metrics` once it listens. Neither asks who is \
        calling: keep it on loopback or behind the reverse proxy. See docs/operations.md.

        With `partitions:` and `store: postgres://…` it is one of several engines that share a city (docs/scale.md): \
        it takes its fair share of the partitions (or those named by --partitions), each on a lease in PostgreSQL \
        with its own broker session, and gives them back as engines join or leave. The password comes from \
        --db-password-file or PGPASSWORD.
        """)

    @Option(help: ArgumentHelp("The live config file.", valueName: "FILE")) var config: String
    @Flag(help: "No line per incident dispatched, escalated, overdue or closed (the minute's stats line stays).") var quiet = false
    @Option(help: ArgumentHelp("How often a stats line is logged (a duration: 1m, 30s; 0 for never).", valueName: "DURATION"))
    var statsEvery = "1m"
    @Option(help: ArgumentHelp("With `partitions:` in the config: `auto` (a fair share among the engines alive) or the partition ids to run, comma-separated (each waited for while another engine holds it).",
                               valueName: "auto|IDS"))
    var partitions = "auto"
    @Option(name: .customLong("db-password-file"),
            help: ArgumentHelp("The PostgreSQL password for a `store: postgres://…` (else PGPASSWORD; never on the command line).", valueName: "FILE"))
    var dbPasswordFile: String?

    func validate() throws {
        guard statsEvery == "0" || Durations.parse(statsEvery) != nil else {
            throw ValidationError("--stats-every: `\(statsEvery)` is not a duration (e.g. 1m, 30s, 0)")
        }
    }

    func run() async throws {
        let cfg = try failing { try LiveConfig.load(path: config) }
        if let plan = cfg.partitions {
            // Listed partitions only: in hash mode every community has an owner.
            let unowned = plan.kind == .listed ? plan.unowned(try failing { try RegistryLoader.load(path: cfg.registry) }.catalog.communityIDs) : []
            if !unowned.isEmpty {
                throw Failure("\(config): `partitions:` leaves \(unowned.count == 1 ? "a registered community" : "\(unowned.count) registered communities") in no partition, so nobody would hear their gateways: \(unowned.joined(separator: ", ")). Add \(unowned.count == 1 ? "it" : "each") to a partition's `communities`")
            }
            try await runPartitions(cfg, plan)
            return
        }
        if partitions != "auto" {
            throw Failure("--partitions \(partitions): \(config) has no `partitions:`; it runs one engine on `broker:` (docs/scale.md)")
        }
        if dbPasswordFile != nil {
            throw Failure("--db-password-file: \(config)'s store \(cfg.store) is an SQLite file, which has no password")
        }
        var tuning = LiveTuning()
        tuning.announcesIncidents = !quiet
        let log: @Sendable (String) -> Void = { line in
            let t = RFC3339.format(SystemClock().now())
            print("\(t) \(line)")
            fflush(nil)
        }
        // Bootstrapped only when served: without `metrics.listen` the engine records into swift-metrics' no-op backend.
        let metrics = cfg.metricsListen.map { _ in MetricsRegistry.process }
        let engine = try failing {
            try LiveEngine(config: cfg, tuning: tuning, metrics: metrics?.factory ?? MetricsSystem.factory, log: log)
        }
        let every = statsEvery == "0" ? 0 : Durations.parse(statsEvery) ?? 0
        let statsTask = every <= 0 ? nil : Task {
            var before = engine.stats.counts
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(every) * 1_000_000)
                if Task.isCancelled { break }
                let now = engine.stats
                log(StatsLine.text(now, since: before, over: every))
                before = now.counts
            }
        }
        defer { statsTask?.cancel() }
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { engine.stop() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        let listener = MetricsListener(engine: engine, address: cfg.metricsListen, metrics: metrics, log: log)
        try await failingAsync { try await engine.run() }
        if let problem = await listener.stop() { throw Failure(problem) }
    }
}

extension Run {
    /// One engine of a partitioned city (docs/scale.md).
    func runPartitions(_ cfg: LiveConfig, _ plan: PartitionPlan) async throws {
        guard PostgresStoreName.names(cfg.store) else {
            throw Failure("\(config): `partitions:` are shared by several engines through one PostgreSQL store: set `store: postgres://user@host:port/database` (an SQLite file is one engine's)")
        }
        let target = try failing { try PostgresTarget.parse(cfg.store, passwordFile: dbPasswordFile) }
        let choice: PartitionChoice
        if partitions == "auto" {
            choice = .auto
        } else {
            let ids = partitions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !ids.isEmpty else { throw ValidationError("--partitions: `auto` or partition ids separated by commas") }
            choice = .fixed(ids)
        }
        var tuning = LiveTuning()
        tuning.announcesIncidents = !quiet
        tuning.acknowledgesAfterCommit = true
        let log: @Sendable (String) -> Void = { line in
            print("\(RFC3339.format(SystemClock().now())) \(line)")
            fflush(nil)
        }
        let metrics = cfg.metricsListen.map { _ in MetricsRegistry.process }
        let runner = PartitionRunner(config: cfg, plan: plan, target: target, choice: choice, tuning: tuning,
                                     metrics: metrics?.factory ?? MetricsSystem.factory, log: log)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { Task { await runner.stop() } }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        let every = statsEvery == "0" ? 0 : Durations.parse(statsEvery) ?? 0
        let statsTask = every <= 0 ? nil : Task {
            var before = await runner.counts
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(every) * 1_000_000)
                if Task.isCancelled { break }
                let now = await runner.counts
                let held = await runner.partitions
                log("stats (last \(Durations.describe(every))): \(now.accepted - before.accepted) accepted, "
                    + "\(now.duplicates - before.duplicates) duplicates, \(now.rejectedTotal - before.rejectedTotal) rejected, "
                    + "\(now.raisedTotal - before.raisedTotal) incidents raised\(StatsLine.notApplicable(now, since: before)); "
                    + "partitions \(held.isEmpty ? "none" : held.joined(separator: ","))")
                before = now
            }
        }
        defer { statsTask?.cancel() }
        let listener = MetricsListener(address: cfg.metricsListen, metrics: metrics, health: { MetricsListener.report(runner.health) },
                                       stopEngine: { Task { await runner.stop() } }, log: log)
        do { try await failingAsync { try await runner.run() } } catch {
            _ = await listener.stop()
            throw error
        }
        if let problem = await listener.stop() { throw Failure(problem) }
        let c = await runner.counts
        log("stopped: \(c.accepted) accepted, \(c.duplicates) duplicates, \(c.rejectedTotal) rejected, \(c.raisedTotal) incidents raised")
    }
}

/// The running engine's line every minute: what the minute brought, and where things stand.
enum StatsLine {
    static func text(_ s: LiveStats, since before: IngestCounts, over: Millis) -> String {
        let c = s.counts
        var byReason: [String] = []
        for (reason, n) in c.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let new = n - (before.rejected[reason] ?? 0)
            if new > 0 { byReason.append("\(reason.rawValue) \(new)") }
        }
        let accepted = c.accepted - before.accepted
        let duplicates = c.duplicates - before.duplicates
        let rejected = c.rejectedTotal - before.rejectedTotal
        let raised = c.raisedTotal - before.raisedTotal
        let gaps = notApplicable(c, since: before)
        let reasons = byReason.isEmpty ? "" : " (" + byReason.joined(separator: ", ") + ")"
        let broker = s.connected ? "connected" : "DISCONNECTED"
        return "stats (last \(Durations.describe(over))): \(accepted) accepted, \(duplicates) duplicates, \(rejected) rejected"
            + reasons + ", \(raised) incidents raised\(gaps); \(s.openIncidents) open; broker \(broker)"
    }

    /// `, N not applicable (so far: …)` for the evaluations not applicable since `before`, or nothing.
    static func notApplicable(_ c: IngestCounts, since before: IngestCounts) -> String {
        let n = c.notApplicableTotal - before.notApplicableTotal
        return n > 0 ? ", \(n) not applicable (so far: " + Terminal.safe(NotApplicableText.pairs(c, limit: 2)) + ")" : ""
    }
}

/// `failing` for async bodies.
func failingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let f as Failure { throw f } catch { throw Failure("\(error)") }
}
