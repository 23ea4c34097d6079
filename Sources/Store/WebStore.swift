import Model

/// What `cityeye serve` (the Web target) and people's accounts need of a store, beyond the engine's interface: the
/// cockpit's counted and grouped queries, the change feed's notices, and the web accounts. The SQLite `Store` and the
/// PostgreSQL store (PostgresStore target) both answer it, so the web app runs on either.
public protocol WebStore: EngineStore {
    /// How many incidents match (the filter's limit and order do not apply).
    func incidentCount(_ filter: IncidentFilter) throws -> Int
    /// The scenarios that have incidents in `community` (those with an id up to `through`).
    func scenarios(community: String, through: Int64) throws -> [String]
    /// When the newest incident of `community` was first seen (nil: it has none).
    func newestFirstSeen(community: String) throws -> Instant?
    /// Incidents of `community` first seen in [start, start + hours h), counted per scenario and hour (index 0: the
    /// hour from `start`); only those with an id up to `through`.
    func raisedPerHour(community: String, start: Instant, hours: Int, through: Int64) throws -> [String: [Int]]
    /// Scenario and first-seen time of the incidents of `community` with an id in (after, through], by id.
    func raised(community: String, after: Int64, through: Int64) throws -> [(scenario: String, firstSeen: Instant)]
    /// The latest `limit` audit rows in (`after`, `upTo`] whose action is one of `workActions`, oldest first.
    func workNotices(after: Int64, upTo: Int64, limit: Int) throws -> [WorkNoticeRow]
    /// Sets (or replaces) a person's password hash.
    func saveAccount(_ account: AccountRecord) throws
    func account(worker: String) throws -> AccountRecord?
    /// Every account, by worker id.
    func accounts() throws -> [AccountRecord]
    /// What an operator should check when the store cannot be read (for `/healthz`).
    var unreadableHint: String { get }
}

/// An audit row that gives a person work, with its incident as it is now (for the pages' pop-up notices).
public struct WorkNoticeRow: Sendable, Equatable {
    public var row: Int64
    public var entry: AuditEntry
    public var incident: Incident
    public init(row: Int64, entry: AuditEntry, incident: Incident) { self.row = row; self.entry = entry; self.incident = incident }
}

extension WebStore {
    /// The audit actions that give someone work: dispatched (raised, to the assignee), escalated (to the community's
    /// supervisor), reopened (back to the assignee).
    public static var workActions: [AuditAction] { [.dispatched, .escalated, .reopened] }

    /// `workNotices`' query for a store's incident and audit column lists and its parameter markers (after, upTo,
    /// limit): the incident's columns, then the audit row's from `auditAt`, then the audit row id.
    public static func workNoticesSQL(incidentColumns: String, auditColumns: String, markers: (String, String, String))
        -> (sql: String, auditAt: Int, rowAt: Int) {
        let columns = incidentColumns.split(separator: ",").map { "i." + $0.trimmingCharacters(in: .whitespaces) }
        let audit = auditColumns.split(separator: ",").map { "a." + $0.trimmingCharacters(in: .whitespaces) }
        let actions = workActions.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let sql = "SELECT \((columns + audit).joined(separator: ", ")), a.id FROM audit a JOIN incident i ON i.id = a.incident "
            + "WHERE a.id > \(markers.0) AND a.id <= \(markers.1) AND a.action IN (\(actions)) ORDER BY a.id DESC LIMIT \(markers.2)"
        return (sql, columns.count, columns.count + audit.count)
    }
}

extension Store: WebStore {
    public var unreadableHint: String { "check the file, its folder's permissions and the disk" }
}
