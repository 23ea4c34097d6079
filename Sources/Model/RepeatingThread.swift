import Foundation

/// Runs `body` every `interval` seconds on a thread of its own until `stop()`, which waits for the run in progress.
/// For work that blocks in the kernel (an fsync, a write-ahead-log checkpoint): it must hold up neither the MQTT
/// thread, nor the engine's loop, nor Swift's cooperative pool (two threads on a two-core machine).
public final class RepeatingThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopping = false
    private var finished = false

    public init(name: String, every interval: Double, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            condition.lock()
            while !stopping {
                _ = condition.wait(until: Date(timeIntervalSinceNow: interval))
                if stopping { break }
                condition.unlock()
                body()
                condition.lock()
            }
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the thread; returns once `body` is no longer running. Calling it again does nothing.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
