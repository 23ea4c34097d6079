import Hummingbird

/// A small HTTP server with only `/metrics` and `/healthz`, for a process whose real work is elsewhere
/// (`cityeye run`: the live config's `metrics.listen`).
public struct TelemetryServer: Sendable {
    public let host: String
    public let port: Int
    let metrics: MetricsRegistry
    let health: @Sendable () async -> HealthReport

    public init(host: String, port: Int, metrics: MetricsRegistry, health: @escaping @Sendable () async -> HealthReport) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
    }

    /// Serves until the task running it is cancelled; `onRunning` gets the bound port (useful with port 0).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.addTelemetryRoutes(metrics: metrics, health: health)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                              onServerRunning: { await onRunning($0.localAddress?.port ?? 0) })
        try await app.run()
    }
}
