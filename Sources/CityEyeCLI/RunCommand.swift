import ArgumentParser
import Foundation
import Model
import Registry
import Live
import Engine
import CoreMetrics
import Telemetry

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
        """)

    @Option(help: ArgumentHelp("The live config file.", valueName: "FILE")) var config: String
    @Flag(help: "No line per incident dispatched, escalated, overdue or closed (the minute's stats line stays).") var quiet = false
    @Option(help: ArgumentHelp("How often a stats line is logged (a duration: 1m, 30s; 0 for never).", valueName: "DURATION"))
    var statsEvery = "1m"

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
            throw Failure("\(config): `partitions:` is read and checked, but this build's engine does not run partitions yet; remove it to run one engine on `broker:` (docs/scale.md says what is built)")
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
        let notApplicable = c.notApplicableTotal - before.notApplicableTotal
        let gaps = notApplicable > 0 ? ", \(notApplicable) not applicable (so far: " + Terminal.safe(NotApplicableText.pairs(c, limit: 2)) + ")" : ""
        let reasons = byReason.isEmpty ? "" : " (" + byReason.joined(separator: ", ") + ")"
        let broker = s.connected ? "connected" : "DISCONNECTED"
        return "stats (last \(Durations.describe(over))): \(accepted) accepted, \(duplicates) duplicates, \(rejected) rejected"
            + reasons + ", \(raised) incidents raised\(gaps); \(s.openIncidents) open; broker \(broker)"
    }
}

/// `failing` for async bodies.
func failingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let f as Failure { throw f } catch { throw Failure("\(error)") }
}
