import Foundation
import XCTest

/// Polls `condition` until it holds; fails the test after `timeout` seconds.
public func waitUntil(_ what: String, timeout: Double = 15, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.02)
    }
    XCTFail("timed out waiting for \(what)")
}

/// What a callback on another thread saw, in order.
public final class Seen<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    public init() {}
    public func add(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    public var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}
