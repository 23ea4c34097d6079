import Model

/// What people's read commands and comparisons need of a store: incidents, their audit and events, dead letters,
/// engine state and the audit chains. The SQLite `Store` and the PostgreSQL store (the PostgresStore target) both
/// answer it.
public protocol StoreReader: AnyObject, Sendable {
    /// Where the store is, for messages: a file path, or a `postgres://` URL without its password.
    var path: String { get }
    func close()
    func incidents(_ filter: IncidentFilter) throws -> [Incident]
    /// The scenarios that have incidents in the store.
    func scenarios() throws -> [String]
    func incident(id: Int64) throws -> Incident?
    func audit(of incident: Int64) throws -> [AuditEntry]
    func allAudit() throws -> [AuditEntry]
    func events(of incident: Int64) throws -> [IncidentEvent]
    func allIncidentEvents() throws -> [IncidentEvent]
    /// The dead letters kept, oldest first (`limit`: the latest that many).
    func deadLetters(limit: Int?) throws -> [DeadLetter]
    func deadLetterCountsByTopic() throws -> [DeadLetterCount]
    func deadLetterTotal() throws -> (payloadBytes: Int, rows: Int)
    func state(_ name: String) throws -> [UInt8]?
    func lastAuditRow() throws -> Int64
    /// Each chain's last sealed row as the store recorded it.
    func auditHeads() throws -> [String: AuditHead]
    /// Every audit row with its chain and MAC, in id order; `body` returns false to stop early.
    func forEachAuditRow(_ body: (AuditRow) throws -> Bool) throws
}

extension StoreReader {
    public func incidents() throws -> [Incident] { try incidents(IncidentFilter()) }
    public func deadLetters() throws -> [DeadLetter] { try deadLetters(limit: nil) }
}

/// What the engine (`Pipeline`, `Replay`, the dead-letter keeper) needs of a store: what it carries from an earlier
/// run, and one write transaction per batch. A store that answers it can be replayed into; the live engine and
/// people's writing commands still take the SQLite `Store` (docs/scale.md says what is built).
public protocol EngineStore: StoreReader {
    func notClosedIncidents() throws -> [Incident]
    func maxIncidentID() throws -> Int64
    /// The event time of the latest processed-id batch, if any.
    func latestProcessedAt() throws -> Instant?
    /// The processed-id keys of batches written at or after `since` (and before `before`, if given) in key format
    /// `format`, one after another.
    func processedKeys(since: Instant, before: Instant?, format: Int) throws -> [UInt8]
    /// Reads `processedKeys` on a connection of its own, so that a thread can load the older part of the dedup window
    /// while the engine already commits on this one (nil: the store offers none; the pipeline then loads them all
    /// before it takes a message).
    func asideKeyReader() -> (@Sendable (_ since: Instant, _ before: Instant, _ format: Int) throws -> [UInt8])?
    /// The rule state saved by key, in (rule, key) order.
    func ruleKeys() throws -> [SavedRuleKey]
    /// Runs `body` in one write transaction: all of it is committed, or (when it throws) none of it.
    func transaction<T>(_ body: (any StoreTransaction) throws -> T) throws -> T
    /// Runs a bulk load (a replay), which a store may make cheaper than the same transactions one by one.
    func bulkLoading<T>(_ body: () throws -> T) throws -> T
    /// The sealer and the notices switch later transactions follow, and the heads committed ones moved.
    var writeSettings: WriteSettings { get }
}

extension EngineStore {
    public func processedKeys(since: Instant, format: Int) throws -> [UInt8] {
        try processedKeys(since: since, before: nil, format: format)
    }
    public func asideKeyReader() -> (@Sendable (_ since: Instant, _ before: Instant, _ format: Int) throws -> [UInt8])? { nil }
    /// Seals the audit rows every later write transaction appends (nil: they are written with no MAC).
    public func setAuditSealer(_ sealer: (any AuditSealer)?) { writeSettings.setSealer(sealer) }
    public var sealsAudit: Bool { writeSettings.sealer != nil }
    /// Whether later write transactions put the changes a city is told of into the webhook outbox (on by default;
    /// a replay turns it off: it audits or tunes, it does not notify).
    public func setEnqueuesNotices(_ on: Bool) { writeSettings.setEnqueuesNotices(on) }
    /// The chain heads moved by transactions committed since the last call (the live engine logs them).
    public func takeCommittedAuditHeads() -> [String: AuditHead] { writeSettings.takeCommittedHeads() }
}

/// The writes (and the reads they depend on) inside one `EngineStore.transaction`. Each call is one statement or a
/// few, whatever the number of rows it carries.
public protocol StoreTransaction: AnyObject {
    /// Full state by id; the last of several versions of one incident wins.
    func upsert(_ incidents: [Incident]) throws
    /// Appends audit rows after the largest id, each in the chain `chains[i]` (nil: its incident's community), sealed
    /// when the store has a sealer. Returns the last row id.
    func append(_ audit: [AuditEntry], chains: [String]?) throws -> Int64
    func writeIncidentEvents(_ events: [IncidentEvent], counts: [(incident: Int64, count: Int64)]) throws
    func append(_ deadLetters: [DeadLetter]) throws
    /// Adds to the per-(reason, topic) counts of rejected messages.
    func add(_ counts: [DeadLetterCount]) throws
    func pruneDeadLetters(receivedBefore before: Instant, maxPayloadBytes: Int, limit: DeadLetterPruneLimit) throws
        -> (deleted: Int, complete: Bool)
    func appendProcessed(keys: [UInt8], at: Instant, format: Int) throws
    func pruneProcessed(before: Instant) throws
    func setState(_ name: String, _ value: [UInt8]) throws
    func deleteState(_ name: String) throws
    /// State that belongs to the whole store, not to the engine or partition writing it (the registry people's
    /// commands read): one copy, whichever of several engines writes it last.
    func setCityState(_ name: String, _ value: [UInt8]) throws
    func state(_ name: String) throws -> [UInt8]?
    func saveRuleKeys(removed: [(rule: String, key: String)], written: [SavedRuleKey], replaceAll: Bool) throws
    /// Incidents that people (actor other than `engine`) changed after an audit row, and the last row id.
    func peopleChanges(afterAuditRow row: Int64) throws -> (lastRow: Int64, incidents: [Incident])
    func lastAuditRow() throws -> Int64
    func incident(id: Int64) throws -> Incident?
    /// The oldest incident for the same (rule, key) raised after `incident` that is not closed, if any: a reopen
    /// while it is open would make two open incidents for one (rule, key) (docs/contract.md §8).
    func newerNotClosed(than incident: Incident) throws -> Incident?
    /// When several engines share the store (partitions): the largest incident id any of them committed, read under
    /// the store's write lock, so that this transaction's new incidents take ids above it. nil: this engine alone
    /// gives ids in this store.
    func sharedMaxIncidentID() throws -> Int64?
    /// Keeps accepted messages as capture lines in the store itself (a partitioned city: its partitions move between
    /// machines, so their capture cannot be a file on one of them); `cityeye capture` writes them out as day files.
    func appendCaptured(_ lines: [CapturedLines]) throws
}

/// Accepted messages of one batch and one local day as capture log lines (JSON, each with its topic, each ending in
/// a newline): one row of the store, however many lines.
public struct CapturedLines: Sendable, Equatable {
    /// Days since 1970-01-01 in the capture's timezone: the day file `YYYY-MM-DD.jsonl` they go to.
    public var day: Int
    public var text: [UInt8]
    public init(day: Int, text: [UInt8]) { self.day = day; self.text = text }
    /// How many lines.
    public var count: Int { text.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
}

extension StoreTransaction {
    public func sharedMaxIncidentID() throws -> Int64? { nil }
    public func appendCaptured(_ lines: [CapturedLines]) throws {
        guard !lines.isEmpty else { return }
        throw StoreError("this store keeps no capture lines: an engine with one SQLite store writes its capture to `capture_dir` itself")
    }
    public func setCityState(_ name: String, _ value: [UInt8]) throws { try setState(name, value) }
}

extension Store: EngineStore {
    public func transaction<T>(_ body: (any StoreTransaction) throws -> T) throws -> T {
        try writeTransaction { try body($0) }
    }
}

extension WriteTransaction: StoreTransaction {}
