import ArgumentParser
import Foundation
import Model
import Registry
import Live
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

    func run() async throws {
        let cfg = try failing { try LiveConfig.load(path: config) }
        let log: @Sendable (String) -> Void = { line in
            let t = RFC3339.format(SystemClock().now())
            print("\(t) \(line)")
            fflush(nil)
        }
        // Bootstrapped only when served: without `metrics.listen` the engine records into swift-metrics' no-op backend.
        let metrics = cfg.metricsListen.map { _ in MetricsRegistry.process }
        let engine = try failing {
            try LiveEngine(config: cfg, metrics: metrics?.factory ?? MetricsSystem.factory, log: log)
        }
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

/// `failing` for async bodies.
func failingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let f as Failure { throw f } catch { throw Failure("\(error)") }
}
