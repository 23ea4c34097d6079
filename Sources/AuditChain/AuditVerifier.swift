import Crypto
import Model
import Store

/// Checks a trail one row at a time, in id order (a city's trail is read as a stream, not held in memory).
public struct AuditVerifier {
    private let keyed: HMAC<SHA256>
    /// Heads recorded elsewhere, one dictionary per source (the store's `audit_head`, the engine's log).
    private(set) var recorded: [[String: AuditHead]]
    private var confirmed: [Set<String>]
    private var last: [String: (id: Int64, mac: [UInt8])] = [:]
    private var chainBegan = false
    /// Rows whose MAC held.
    public private(set) var sealedRows = 0
    /// Rows written before the chain began (migration v6): no chain, no MAC, all before the first chained row.
    public private(set) var rowsBeforeChain = 0
    public var chains: Int { last.count }

    public init(key: AuditKey, heads: [[String: AuditHead]] = []) {
        keyed = HMAC<SHA256>(key: key.key)
        recorded = heads
        confirmed = heads.map { _ in [] }
    }

    /// The break at `row`, if any; after a break the verifier's counts stop meaning anything.
    public mutating func check(_ row: ChainedRow) -> AuditChain.Break? {
        if row.chain.isEmpty && row.mac.isEmpty && !chainBegan {
            rowsBeforeChain += 1
            return nil
        }
        chainBegan = true
        guard row.mac.count == AuditChain.macBytes else { return .init(kind: .missingMAC, chain: row.chain, row: row.id) }
        guard AuditChain.mac(row, previous: last[row.chain]?.mac ?? [], keyed: keyed) == row.mac else {
            return .init(kind: .changedOrOutOfOrder, chain: row.chain, row: row.id)
        }
        last[row.chain] = (row.id, row.mac)
        sealedRows += 1
        for (i, heads) in recorded.enumerated() {
            guard let head = heads[row.chain], head.row == row.id else { continue }
            guard !head.mac.isEmpty, row.mac.starts(with: head.mac) else {
                return .init(kind: .changedOrOutOfOrder, chain: row.chain, row: row.id)
            }
            confirmed[i].insert(row.chain)
        }
        return nil
    }

    /// Begins a further pass over rows appended since the last one was checked, against `heads`, the chains' heads
    /// the store records now. A chain whose head is a row already checked must end there, with that MAC; the others
    /// must reach their heads in the new rows (`finish()`). Returns the break when a head points before a row checked.
    public mutating func expect(heads: [String: AuditHead]) -> AuditChain.Break? {
        recorded = [heads]
        confirmed = [[]]
        for chain in heads.keys.sorted() {
            let head = heads[chain]!
            guard let seen = last[chain], head.row <= seen.id else { continue }
            guard head.row == seen.id, !head.mac.isEmpty, seen.mac.starts(with: head.mac) else {
                return .init(kind: .changedOrOutOfOrder, chain: chain, row: head.row)
            }
            confirmed[0].insert(chain)
        }
        return nil
    }

    /// After the last row: a recorded head that no row matched means rows were cut off the end of its chain.
    public func finish() -> AuditChain.Break? {
        for (i, heads) in recorded.enumerated() {
            for chain in heads.keys.sorted() where !confirmed[i].contains(chain) {
                return .init(kind: .cutOff, chain: chain, row: last[chain]?.id ?? 0)
            }
        }
        return nil
    }
}

/// What `AuditTrail.verify` found.
public struct AuditReport: Sendable, Equatable {
    public var rows: Int
    public var chains: Int
    public var rowsBeforeChain: Int
    public var firstBreak: AuditChain.Break?
    public var intact: Bool { firstBreak == nil }

    public init(rows: Int, chains: Int, rowsBeforeChain: Int, firstBreak: AuditChain.Break?) {
        self.rows = rows; self.chains = chains; self.rowsBeforeChain = rowsBeforeChain; self.firstBreak = firstBreak
    }

    public var summary: String {
        if let b = firstBreak { return "AUDIT CHAIN BROKEN: \(b)" }
        return "audit intact: \(rows) rows in \(chains) chains (rows before the chain began: \(rowsBeforeChain))"
    }
}

/// A store's whole trail against the key, the store's own chain heads and any heads recorded elsewhere.
public enum AuditTrail {
    public static func verify(store: any StoreReader, key: AuditKey, loggedHeads: [String: AuditHead] = [:]) throws -> AuditReport {
        var v = AuditVerifier(key: key, heads: [try store.auditHeads(), loggedHeads])
        var found: AuditChain.Break?
        try store.forEachAuditRow { row in
            found = v.check(row)
            return found == nil
        }
        if found == nil { found = v.finish() }
        return AuditReport(rows: v.sealedRows, chains: v.chains, rowsBeforeChain: v.rowsBeforeChain, firstBreak: found)
    }

    /// Loads the key (`create`: made 0600 when missing) and seals the store's audit appends with it.
    public static func seal(_ store: any EngineStore, keyFile: String, create: Bool) throws(AuditKeyError) -> AuditKey {
        let key = try AuditKey.load(path: keyFile, create: create)
        store.setAuditSealer(KeySealer(key: key))
        return key
    }
}
