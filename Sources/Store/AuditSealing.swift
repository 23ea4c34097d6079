import Model

/// One audit row as the tamper-evident chain sees it: its id, its chain (the incident's community) and its MAC
/// (empty: not sealed — written before the chain began, or without the key).
public struct AuditRow: Sendable, Equatable {
    public var id: Int64
    public var chain: String
    public var entry: AuditEntry
    public var mac: [UInt8]
    public init(id: Int64, chain: String, entry: AuditEntry, mac: [UInt8] = []) {
        self.id = id; self.chain = chain; self.entry = entry; self.mac = mac
    }
}

/// The last sealed row of a chain and its MAC (or, read from a log, the first bytes of it).
public struct AuditHead: Sendable, Equatable {
    public var row: Int64
    public var mac: [UInt8]
    public init(row: Int64, mac: [UInt8]) { self.row = row; self.mac = mac }
}

/// Computes the MACs of audit rows about to be appended. The Store does not know the algorithm or the key (it does
/// not link a crypto library): whoever opens the store sets one (`Store.auditSealer`, the AuditChain target's).
public protocol AuditSealer: Sendable {
    /// The MAC of each of `rows`, in order, each chained to the previous row of its chain; `previous` holds each
    /// chain's last MAC before these rows (a chain missing from it begins here).
    func seal(_ rows: [AuditRow], previous: [String: [UInt8]]) -> [[UInt8]]
}
