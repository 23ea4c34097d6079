import Foundation
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

extension AuditRow {
    /// `audit` as rows with ids from `first` on, row i in `chains[i]`; with a sealer, each MAC chained to its chain's
    /// recorded head (`heads` reads them) and the heads the rows move, to be saved in the same transaction (empty
    /// without a sealer). Both stores append audit rows through it.
    public static func appending(_ audit: [AuditEntry], chains: [String], first: Int64, sealer: (any AuditSealer)?,
                                 heads: (Set<String>) throws -> [String: AuditHead]) rethrows
        -> (rows: [AuditRow], moved: [String: AuditHead]) {
        precondition(chains.count == audit.count, "one chain per audit row")
        var rows = audit.indices.map { AuditRow(id: first + Int64($0), chain: chains[$0], entry: audit[$0]) }
        guard let sealer, !rows.isEmpty else { return (rows, [:]) }
        let previous = try heads(Set(chains))
        for (i, mac) in sealer.seal(rows, previous: previous.mapValues(\.mac)).enumerated() { rows[i].mac = mac }
        var moved: [String: AuditHead] = [:]
        for r in rows { moved[r.chain] = AuditHead(row: r.id, mac: r.mac) }
        return (rows, moved)
    }
}

/// What a store's next write transactions do besides their writes (seal audit rows, put notices in the webhook
/// outbox) and the chain heads its committed transactions moved. Each store keeps one; `EngineStore` reads it.
public final class WriteSettings: @unchecked Sendable {
    private let lock = NSLock()
    private var currentSealer: (any AuditSealer)?
    private var notices = true
    private var heads: [String: AuditHead] = [:]

    public init() {}

    public var sealer: (any AuditSealer)? { lock.withLock { currentSealer } }
    public func setSealer(_ sealer: (any AuditSealer)?) { lock.withLock { currentSealer = sealer } }
    public var enqueuesNotices: Bool { lock.withLock { notices } }
    public func setEnqueuesNotices(_ on: Bool) { lock.withLock { notices = on } }
    /// A transaction that moved `moved` committed.
    public func committed(_ moved: [String: AuditHead]) { lock.withLock { heads.merge(moved) { $1 } } }
    public func takeCommittedHeads() -> [String: AuditHead] {
        lock.withLock {
            defer { heads = [:] }
            return heads
        }
    }
}
