import Foundation
import CoreMetrics

/// A partitioned engine's own series, beside each partition's (`LiveMetrics` labelled `partition`): how many
/// partitions it holds, each partition of the plan held here (1) or not (0), partitions taken and how they ended,
/// whether the lease table answers. docs/operations.md says what to alert on.
struct PartitionRunnerMetrics {
    private let factory: any MetricsFactory
    private let heldCount: Gauge
    private let heldHere: [String: Gauge]
    private let leaseTable: Gauge

    init(factory: any MetricsFactory, partitions: [String]) {
        self.factory = factory
        heldCount = Gauge(label: "cityeye_partitions_held", factory: factory)
        heldHere = Dictionary(uniqueKeysWithValues: partitions.map {
            ($0, Gauge(label: "cityeye_partition_held", dimensions: [("partition", $0)], factory: factory))
        })
        leaseTable = Gauge(label: "cityeye_lease_table_up", factory: factory)
        heldCount.record(0)
        for g in heldHere.values { g.record(0) }
        // Every partition's takes and ends exist from the start, at 0.
        for p in partitions {
            _ = Counter(label: "cityeye_partition_takes_total", dimensions: [("partition", p)], factory: factory)
            for end in ["stopped", "lost", "failed"] {
                _ = Counter(label: "cityeye_partition_ends_total", dimensions: [("partition", p), ("end", end)], factory: factory)
            }
        }
    }

    func held(_ partitions: [String]) {
        heldCount.record(partitions.count)
        for (p, g) in heldHere { g.record(partitions.contains(p) ? 1 : 0) }
    }

    func taken(_ partition: String) {
        Counter(label: "cityeye_partition_takes_total", dimensions: [("partition", partition)], factory: factory).increment()
    }

    func ended(_ partition: String, _ end: PartitionEnd) {
        let how = switch end { case .stopped: "stopped"; case .lost: "lost"; case .failed: "failed" }
        Counter(label: "cityeye_partition_ends_total", dimensions: [("partition", partition), ("end", how)], factory: factory).increment()
    }

    func leaseTable(up: Bool) { leaseTable.record(up ? 1 : 0) }
}

/// What a partitioned engine's `/healthz` tells: whether the lease table answered its last round, and what it holds.
public struct PartitionRunnerHealth: Sendable, Equatable {
    public var engineID: String
    public var partitions: [String] = []
    /// When the engine last beat on the roster (its own clock).
    public var lastHeartbeat: Date?
    /// Why the lease table did not answer the last round (nil: it did).
    public var trouble: String?
    /// Unhealthy: the lease table does not answer, so the partitions held run only while their leases last and
    /// none can be taken.
    public var healthy: Bool { trouble == nil && lastHeartbeat != nil }
}
