import Foundation
import Model

/// Where the live engine reads the time. Tests inject a clock they move by hand.
public protocol WallClock: Sendable {
    func now() -> Instant
}

public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Instant { Instant(ms: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) }
}

/// A clock that only moves when told to.
public final class ManualClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var t: Instant
    public init(_ start: Instant) { t = start }
    public func now() -> Instant { lock.lock(); defer { lock.unlock() }; return t }
    public func set(_ new: Instant) { lock.lock(); t = new; lock.unlock() }
    public func advance(by d: Millis) { lock.lock(); t = t + d; lock.unlock() }
}
