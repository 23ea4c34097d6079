import Foundation
import Model
import Registry
import Live
import Engine
import Telemetry
import Partitions

/// `cityeye run`'s `/metrics` and `/healthz` (the live config's `metrics.listen`), served beside the engine until
/// it stops. A listener that cannot start (the port is taken) stops the engine: an operator who asked for metrics
/// would otherwise watch an engine nobody can see.
final class MetricsListener: @unchecked Sendable {
    private var server: TelemetryServer?
    private var task: Task<Void, Never>?
    private let lock = NSLock()
    private var failure: String?

    convenience init(engine: LiveEngine, address: ListenAddress?, metrics: MetricsRegistry?, log: @escaping @Sendable (String) -> Void) {
        self.init(address: address, metrics: metrics, health: { Self.report(engine.health(), stats: engine.stats) },
                  stopEngine: { engine.stop() }, log: log)
    }

    /// `health` answers `/healthz`; `stopEngine` stops the engine when the listener cannot serve.
    init(address: ListenAddress?, metrics: MetricsRegistry?, health: @escaping @Sendable () async -> HealthReport,
         stopEngine: @escaping @Sendable () -> Void, log: @escaping @Sendable (String) -> Void) {
        guard let address, let metrics else { return }
        let server = TelemetryServer(host: address.host, port: address.port, metrics: metrics, health: health,
                                     onRunning: { port in log("metrics: serving http://\(address.host):\(port)/metrics and /healthz") })
        self.server = server
        task = Task { [lock] in
            do {
                try await server.run()
            } catch {
                let problem = "metrics.listen \(address): cannot serve /metrics and /healthz: \(error)"
                lock.withLock { self.failure = problem }
                log(problem + "; stopping the engine")
                stopEngine()
            }
        }
    }

    /// Stops serving; says why the listener failed, if it did.
    func stop() async -> String? {
        await server?.stop()
        await task?.value
        return lock.withLock { failure }
    }

    /// A partitioned engine's `/healthz`: unhealthy while the lease table does not answer.
    static func report(_ h: PartitionRunnerHealth) -> HealthReport {
        var facts: [String: HealthReport.Fact] = [
            "engine": .text(h.engineID),
            "partitions_held": .number(Double(h.partitions.count)),
            "partitions": .text(h.partitions.joined(separator: ",")),
        ]
        if let t = h.lastHeartbeat {
            facts["last_heartbeat"] = .text(RFC3339.format(Instant(ms: Int64((t.timeIntervalSince1970 * 1000).rounded()))))
        }
        if h.healthy { return .ok(facts) }
        return .unhealthy(h.trouble ?? "the engine has not reached the lease table yet", facts)
    }

    static func report(_ h: LiveHealth, stats s: LiveStats) -> HealthReport {
        var facts: [String: HealthReport.Fact] = [
            "broker_connected": .flag(h.connected),
            "seconds_since_progress": .number(Double(h.quietMs / 1000)),
            "messages_accepted": .number(Double(s.counts.accepted)),
            "batches": .number(Double(s.batches)),
        ]
        if let t = h.lastCommitAt { facts["last_commit"] = .text(t.description) }
        if let a = h.audit {
            // Told, not judged: a broken chain leaves the verdict to the broker and the commits.
            facts["audit_chain"] = .text(a.state.rawValue)
            facts["audit_rows_verified"] = .number(Double(a.rows))
            if a.state != .intact { facts["audit_detail"] = .text(a.summary) }
            if a.state == .broken {
                facts["audit_broken_community"] = .text(a.chain ?? "")
                facts["audit_broken_row"] = .number(Double(a.row ?? 0))
            }
        }
        return h.healthy ? .ok(facts) : .unhealthy(h.reason ?? "unhealthy", facts)
    }
}
