public enum Severity: String, CaseIterable, Hashable, Sendable, Comparable {
    case critical, major, minor

    /// docs/contract.md §8: acknowledge-within and resolve-within.
    public var ackWithin: Millis {
        switch self { case .critical: 5 * Durations.minute; case .major: 30 * Durations.minute; case .minor: 4 * Durations.hour }
    }
    public var resolveWithin: Millis {
        switch self { case .critical: 60 * Durations.minute; case .major: 24 * Durations.hour; case .minor: 72 * Durations.hour }
    }
    /// critical < major < minor: most urgent first.
    public var rank: Int { switch self { case .critical: 0; case .major: 1; case .minor: 2 } }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// Set by the engine.
public enum Condition: String, Hashable, Sendable { case active, cleared }

/// Set by people: dispatched → acknowledged → resolved → closed; reopen → dispatched.
public enum IncidentStatus: String, CaseIterable, Hashable, Sendable {
    case dispatched, acknowledged, resolved, closed
    /// Counts toward a worker's load: not yet resolved.
    public var isOpen: Bool { self == .dispatched || self == .acknowledged }
}

/// An incident (docs/contract.md §8). `id` is assigned in raise order, starting at 1.
public struct Incident: Hashable, Sendable {
    public var id: Int64
    public var rule: String
    public var scenario: String
    public var severity: Severity
    public var key: String
    public var device: String
    public var subject: String
    public var community: String
    public var grid: String
    public var firstSeen: Instant
    public var lastSeen: Instant
    public var count: Int64
    public var condition: Condition
    public var status: IncidentStatus
    public var assignee: String
    public var escalated: Bool
    public var overdue: Bool
    /// When it must be acknowledged / resolved by (from raise, or from the latest reopen).
    public var ackDue: Instant
    public var resolveDue: Instant

    public init(id: Int64, rule: String, scenario: String, severity: Severity, key: String, device: String,
                subject: String, community: String, grid: String, firstSeen: Instant, lastSeen: Instant,
                count: Int64, condition: Condition, status: IncidentStatus, assignee: String,
                escalated: Bool, overdue: Bool, ackDue: Instant, resolveDue: Instant) {
        self.id = id; self.rule = rule; self.scenario = scenario; self.severity = severity; self.key = key
        self.device = device; self.subject = subject; self.community = community; self.grid = grid
        self.firstSeen = firstSeen; self.lastSeen = lastSeen; self.count = count; self.condition = condition
        self.status = status; self.assignee = assignee; self.escalated = escalated; self.overdue = overdue
        self.ackDue = ackDue; self.resolveDue = resolveDue
    }
}

public enum AuditAction: String, CaseIterable, Hashable, Sendable {
    case raised, repeated, dispatched, escalated, overdue
    case conditionCleared = "condition_cleared"
    case acknowledged, resolved, closed, reopened
    /// Not in the contract's list but needed: the condition of an incident held again after it was cleared.
    case conditionActive = "condition_active"
}

/// Which way an audit row's action came in: the engine itself, the command line or the web app.
public enum AuditChannel: String, CaseIterable, Hashable, Sendable { case engine, cli, web }

/// One append-only audit row (docs/contract.md §8).
public struct AuditEntry: Hashable, Sendable {
    public var incident: Int64
    public var at: Instant
    /// `engine` or a worker id.
    public var actor: String
    public var action: AuditAction
    public var note: String
    public var channel: AuditChannel
    /// The operating-system user who ran the command, for the `cli` channel; empty otherwise.
    public var osUser: String
    public init(incident: Int64, at: Instant, actor: String, action: AuditAction, note: String = "",
                channel: AuditChannel = .engine, osUser: String = "") {
        self.incident = incident; self.at = at; self.actor = actor; self.action = action; self.note = note
        self.channel = channel; self.osUser = osUser
    }
    public static let engineActor = "engine"
}
