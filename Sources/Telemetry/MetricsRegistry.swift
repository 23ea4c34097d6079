import CoreMetrics
import Prometheus

/// The Prometheus registry the process's metrics land in, the swift-metrics factory that feeds it, and the text
/// exposition `/metrics` serves. Engine and web code record through the factory (swift-metrics' `Counter`,
/// `Gauge`, `Timer`…) and never see Prometheus; tests make their own registry, the process bootstraps one.
public struct MetricsRegistry: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory

    /// A registry of its own (tests, or a process that does not bootstrap swift-metrics).
    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = Self.durationBuckets
        f.valueHistogramBuckets = Self.valueBuckets
        factory = f
    }

    /// The process's registry, bootstrapped into `MetricsSystem` the first time it is asked for (swift-metrics
    /// allows one bootstrap per process, so every caller shares this one).
    public static var process: MetricsRegistry { processRegistry }

    private static let processRegistry: MetricsRegistry = {
        let r = MetricsRegistry()
        MetricsSystem.bootstrap(r.factory)
        return r
    }()

    /// Every metric in the Prometheus text format (version 0.0.4).
    public func exposition() -> String { registry.emitToString() }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Commits take about a millisecond; a busy store or a slow disk shows in the long tail.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10),
    ]

    /// Value histograms by metric name: a batch holds 1 to `maxBatchSize` (2,000) messages.
    static let valueBuckets: [String: [Double]] = [
        "cityeye_batch_messages": [1, 5, 10, 50, 100, 250, 500, 1000, 2000],
    ]
}
