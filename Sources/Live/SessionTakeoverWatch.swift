import Model

/// Notices the broker closing our connection again and again soon after each connect: what happens when another
/// client uses the same client id (the broker hands the session to whichever connected last, and the two keep
/// taking it from each other).
struct SessionTakeoverWatch {
    /// A connection that lasted less than this before the broker closed it counts.
    var shortSessionMs: Int64 = 10_000
    /// This many short sessions within `windowMs` are reported.
    var threshold = 3
    var windowMs: Int64 = 60_000
    private var connectedAt: Instant?
    private var shortEnds: [Instant] = []
    private var reported = false

    init() {}

    mutating func connected(at t: Instant) { connectedAt = t }

    /// True once when the pattern is seen (then again only after the connection held for a while).
    mutating func disconnected(at t: Instant) -> Bool {
        defer { connectedAt = nil }
        guard let c = connectedAt else { return false }
        if t - c >= shortSessionMs {
            shortEnds.removeAll()
            reported = false
            return false
        }
        shortEnds.append(t)
        shortEnds.removeAll { t - $0 > windowMs }
        guard shortEnds.count >= threshold, !reported else { return false }
        reported = true
        return true
    }
}
