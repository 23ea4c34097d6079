import XCTest
import Foundation
import TestSupport
import Registry
import Live
import Partitions
import PostgresStore

/// A partition whose processed keys take longer to read than its lease lasts (a busy partition's last 25 h hold
/// millions) is still taken: its lease is renewed while it opens. Before, the lease ran out during the opening, the
/// first commit was fenced, the partition was given back and tried again — for ever, so nobody heard its district.
extension FailoverTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ l: String) { lock.withLock { lines.append(l) } }
        var all: [String] { lock.withLock { lines } }
    }

    func testAPartitionThatOpensSlowerThanItsLeaseLastsIsStillTaken() throws {
        let city = try city("slowopen")
        defer { city.stop() }
        let cfg = try LiveConfig.load(path: city.dir + "/cityeye.yaml")
        let plan = try XCTUnwrap(cfg.partitions)
        var timing = PartitionTiming()
        timing.ttl = .seconds(2)
        timing.renewEvery = .milliseconds(400)
        timing.margin = .milliseconds(500)
        timing.rebalanceEvery = .milliseconds(500)
        func runner(_ lines: Lines) -> PartitionRunner {
            PartitionRunner(config: cfg, plan: plan, target: city.target, choice: .fixed(["p0"]), timing: timing,
                            tuning: LiveTuning(), log: { lines.add($0) })
        }
        func runUntilReady(_ lines: Lines, timeout: Double) throws {
            let r = runner(lines)
            let task = Task { try await r.run() }
            defer {
                Task { await r.stop() }
                _ = try? awaitTask(task)
            }
            try waitUntil("p0 ready", timeout: timeout) { lines.all.contains { $0.contains("partition p0: ready") } }
        }
        // Once, to make the store and p0's state; then 4,000,000 processed keys for p0 (seconds to read here).
        try runUntilReady(Lines(), timeout: 30)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try pg.psql("""
            INSERT INTO processed_batch (part, at, keys, format)
            SELECT 'p0', \(now), decode(string_agg(substr(md5((g::bigint * 1000 + i)::text), 1, 24), '' ORDER BY i), 'hex'), 2
            FROM generate_series(1, 4000) g, generate_series(1, 1000) i GROUP BY g
            """, in: city.target.database)
        let lines = Lines()
        let started = Date()
        try runUntilReady(lines, timeout: 90)
        let took = Date().timeIntervalSince(started)
        XCTAssertFalse(lines.all.contains { $0.contains("cannot open it") }, lines.all.joined(separator: "\n"))
        print("p0 opened with 4,000,000 processed keys in \(String(format: "%.1f", took)) s (lease: 2 s)")
    }
}

/// Waits for a task from synchronous test code.
func awaitTask<T: Sendable>(_ task: Task<T, any Error>) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task { box.set(await task.result); done.signal() }
    done.wait()
    return try box.get()
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    func set(_ r: Result<T, any Error>) { lock.withLock { result = r } }
    func get() throws -> T { try lock.withLock { result! }.get() }
}
