import CoreMetrics
import Hummingbird
import Store
import Telemetry

/// What `cityeye serve` counts besides requests (`HTTPMetricsMiddleware`): event-stream clients connected and
/// failed logins. Counts only: no ids, names or addresses (docs/web.md).
struct WebMetrics: Sendable {
    let registry: MetricsRegistry
    let sseClients: Meter
    let wrongPassword: Counter
    let throttled: Counter

    init(_ registry: MetricsRegistry) {
        self.registry = registry
        sseClients = Meter(label: "cityeye_web_sse_clients", factory: registry.factory)
        wrongPassword = Counter(label: "cityeye_web_login_failures_total", dimensions: [("reason", "wrong_password")], factory: registry.factory)
        throttled = Counter(label: "cityeye_web_login_failures_total", dimensions: [("reason", "throttled")], factory: registry.factory)
    }
}

extension WebApp {
    /// `/metrics` and `/healthz` without login (bind `listen` to loopback or guard them at the proxy); healthy
    /// while the store can be read.
    func addTelemetryRoutes(_ router: Router<WebContext>) {
        let store = self.store
        router.addTelemetryRoutes(metrics: metrics.registry) {
            do {
                return .ok(["last_audit_row": .number(Double(try store.lastAuditRow()))])
            } catch {
                return .unhealthy("store \(store.path) cannot be read: \(error); \(store.unreadableHint)")
            }
        }
    }
}
