import Hummingbird

extension Router {
    /// `GET /metrics` (Prometheus text) and `GET /healthz` (200 or 503 with JSON). Neither asks who is calling:
    /// bind them to loopback or let the reverse proxy guard them (docs/operations.md). They hold counts and times,
    /// no personal data.
    public func addTelemetryRoutes(metrics: MetricsRegistry, health: @escaping @Sendable () async -> HealthReport) {
        get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: MetricsRegistry.contentType, .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        get("/healthz") { _, _ -> Response in
            let report = await health()
            return Response(status: report.healthy ? .ok : .serviceUnavailable,
                            headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: report.json + "\n")))
        }
    }
}
