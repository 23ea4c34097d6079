import Foundation
import ServiceLifecycle
import Store

/// Notices changes in the store cheaply: one look-up of the audit table's newest row id every `interval`, shared
/// by every open page (each Server-Sent Events stream only compares numbers). Every change to an incident, by
/// the engine or a person, in this process or another, appends an audit row.
public final class ChangeFeed: Service, @unchecked Sendable {
    let store: Store
    let interval: Duration
    private let lock = NSLock()
    private var latestRow: Int64 = 0
    private var stopping = false

    public init(store: Store, interval: Duration = .milliseconds(500)) {
        self.store = store
        self.interval = interval
        latestRow = (try? store.lastAuditRow()) ?? 0
    }

    /// The newest audit row id seen.
    public var latest: Int64 { lock.withLock { latestRow } }
    /// True once the server is shutting down: streams end.
    public var stopped: Bool { lock.withLock { stopping } }

    /// Reads the store now (the poll loop calls it; tests may too).
    public func poll() {
        guard let row = try? store.lastAuditRow() else { return }
        lock.withLock { latestRow = row }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !stopped && !Task.isCancelled {
                poll()
                try? await Task.sleep(for: interval)
            }
        } onGracefulShutdown: {
            self.lock.withLock { self.stopping = true }
        }
    }
}
