import Hummingbird
import Logging
import ServiceLifecycle

/// A small HTTP server with only `/metrics` and `/healthz`, for a process whose real work is elsewhere
/// (`cityeye run`: the live config's `metrics.listen`). It logs only warnings and errors: the process says itself
/// where it serves.
public final class TelemetryServer: Sendable {
    private let group: ServiceGroup

    public init(host: String, port: Int, metrics: MetricsRegistry, health: @escaping @Sendable () async -> HealthReport,
                onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        var logger = Logger(label: "cityeye.metrics")
        logger.logLevel = .warning
        let router = Router()
        router.addTelemetryRoutes(metrics: metrics, health: health)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                              onServerRunning: { await onRunning($0.localAddress?.port ?? 0) }, logger: logger)
        group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    }

    /// Serves until `stop()`; throws when it cannot listen.
    public func run() async throws { try await group.run() }

    /// Stops taking connections and lets `run()` return once open answers are written.
    public func stop() async { await group.triggerGracefulShutdown() }
}
