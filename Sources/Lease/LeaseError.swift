/// Why a lease operation failed; code branches on the case, a person reads the description. No case carries a
/// password.
public enum LeaseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection string cannot be used.
    case badURL(String)
    /// The password file named in the config cannot be used.
    case passwordFile(path: String, why: String)
    /// The server could not be reached (or dropped the connection) on every try within the retry budget.
    case unreachable(server: String, why: String)
    /// The server answered with an error (SQL, permission, authentication).
    case database(server: String, why: String)
    /// A renew or release by a holder whose lease is over: it expired, or another holder took the partition.
    /// Stop working on the partition at once (disconnect from the broker, commit nothing).
    case lost(partition: String, holder: String, token: Int64, now: LeaseHolder?)
    /// The fencing check in a commit transaction failed: this token is not the partition's current live lease. The
    /// transaction must roll back.
    case fenced(partition: String, token: Int64, now: LeaseHolder?)
    /// Waiting for a partition was cancelled (the engine is stopping).
    case cancelled(partition: String)

    public var description: String {
        switch self {
        case .badURL(let why): return "PostgreSQL connection string: \(why)"
        case .passwordFile(let path, let why): return "PostgreSQL password file \(path): \(why)"
        case .unreachable(let server, let why):
            return "PostgreSQL at \(server) cannot be reached: \(why). Check that it runs and listens there; the engine keeps retrying"
        case .database(let server, let why): return "PostgreSQL at \(server): \(why)"
        case .lost(let partition, let holder, let token, let now):
            return "partition \(partition): \(holder) no longer holds lease \(token) (\(now.map(\.description) ?? "nobody holds it now")); stop work on it"
        case .fenced(let partition, let token, let now):
            return "partition \(partition): commit refused, lease \(token) is not the current one (\(now.map(\.description) ?? "nobody holds it now"))"
        case .cancelled(let partition): return "partition \(partition): stopped waiting for its lease"
        }
    }
}

/// Who holds a partition now, as the server sees it.
public struct LeaseHolder: Sendable, Equatable, CustomStringConvertible {
    public var holder: String?
    public var token: Int64
    /// Milliseconds until the lease expires by the server's clock (≤ 0: expired).
    public var expiresInMs: Int64

    public var description: String {
        guard let holder else { return "released, last lease \(token)" }
        return expiresInMs > 0 ? "held by \(holder) with lease \(token) for \(expiresInMs) ms more"
                               : "lease \(token) of \(holder) expired \(-expiresInMs) ms ago"
    }
}
