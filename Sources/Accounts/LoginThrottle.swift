import Foundation
import Model

/// Slows down password guessing, per account and per client address: after `freeFailures` wrong passwords in a
/// row, the next attempt must wait 2^(n − free) seconds after the last failure (at most `maxWait`). The wait is
/// enforced before the password is checked; a success clears the account's and the client's count. Failures
/// older than `forgetAfter` are forgotten.
public final class LoginThrottle: @unchecked Sendable {
    public static let freeFailures = 10
    public static let maxWait: Millis = 15 * Durations.minute
    public static let forgetAfter: Millis = 60 * Durations.minute

    private struct Record { var failures: Int; var last: Instant }
    private let lock = NSLock()
    private var records: [String: Record] = [:]

    public init() {}

    /// How long the caller must still wait before trying this account from this client; nil: try now.
    public func wait(account: String, client: String, at now: Instant) -> Millis? {
        lock.lock(); defer { lock.unlock() }
        let waits = [key(account: account), key(client: client)].compactMap { remaining($0, at: now) }
        return waits.max()
    }

    public func failed(account: String, client: String, at now: Instant) {
        lock.lock(); defer { lock.unlock() }
        // Guesses at many made-up ids must not grow the table without bound: forget what is old first.
        if records.count >= 10_000 { records = records.filter { now.ms - $0.value.last.ms <= Self.forgetAfter } }
        for k in [key(account: account), key(client: client)] {
            var r = records[k].flatMap { now.ms - $0.last.ms > Self.forgetAfter ? nil : $0 } ?? Record(failures: 0, last: now)
            r.failures += 1
            r.last = now
            records[k] = r
        }
    }

    public func succeeded(account: String, client: String) {
        lock.lock(); defer { lock.unlock() }
        records[key(account: account)] = nil
        records[key(client: client)] = nil
    }

    private func key(account: String) -> String { "a:" + account }
    private func key(client: String) -> String { "c:" + client }

    private func remaining(_ k: String, at now: Instant) -> Millis? {
        guard let r = records[k], r.failures >= Self.freeFailures, now.ms - r.last.ms <= Self.forgetAfter else { return nil }
        let exponent = min(r.failures - Self.freeFailures, 20)
        let wait = min(Millis(1000) << Millis(exponent), Self.maxWait)
        let left = r.last.ms + wait - now.ms
        return left > 0 ? left : nil
    }
}
