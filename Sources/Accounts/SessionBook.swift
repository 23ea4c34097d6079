import Foundation
import Model

/// A signed-in person: the cookie's token, and the token every form they post must carry (CSRF).
public struct Session: Sendable, Equatable {
    public var token: String
    public var worker: String
    public var csrf: String
    public var lastSeen: Instant
}

/// Sessions, in memory: restarting `cityeye serve` signs everyone out (they sign in again). A session ends after
/// `idle` without a request, or on logout.
public final class SessionBook: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]
    public let idle: Millis

    public init(idle: Millis) { self.idle = idle }

    public func open(worker: String, at now: Instant) -> Session {
        let s = Session(token: Secrets.token(), worker: worker, csrf: Secrets.token(), lastSeen: now)
        lock.lock(); defer { lock.unlock() }
        // Sessions nobody came back to are dropped here, so the table does not grow without bound.
        if sessions.count >= 1024 { sessions = sessions.filter { now.ms - $0.value.lastSeen.ms <= idle } }
        sessions[s.token] = s
        return s
    }

    /// The live session for a cookie's token (its idle clock restarted), or nil.
    public func session(token: String, at now: Instant) -> Session? {
        lock.lock(); defer { lock.unlock() }
        guard var s = sessions[token] else { return nil }
        guard now.ms - s.lastSeen.ms <= idle else {
            sessions[token] = nil
            return nil
        }
        s.lastSeen = now
        sessions[token] = s
        return s
    }

    public func close(token: String) {
        lock.lock(); defer { lock.unlock() }
        sessions[token] = nil
    }
}

/// Unguessable tokens and their comparison.
public enum Secrets {
    /// 32 random bytes from the system's secure generator, as 64 hex digits.
    public static func token() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    /// Compares in time that does not depend on where the strings differ.
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
