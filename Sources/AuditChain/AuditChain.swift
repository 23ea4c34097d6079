import Crypto
import Model
import Store

/// One audit row as the chain sees it (the Store's row type: id, chain, entry, MAC).
public typealias ChainedRow = AuditRow

/// Each audit row carries an HMAC-SHA256 over all its fields and the MAC of the previous row of its chain (one chain
/// per community, so appends in different communities do not wait for each other). Changing, deleting, inserting
/// or reordering a row breaks the chain at the first row after it; cutting rows off the end is caught by comparing
/// the chain's head with one written elsewhere (the engine logs the heads at each commit).
public enum AuditChain {
    public static let macBytes = 32

    public static func mac(_ row: ChainedRow, previous: [UInt8], key: AuditKey) -> [UInt8] {
        mac(row, previous: previous, keyed: HMAC<SHA256>(key: key.key))
    }

    /// `keyed`: an HMAC set up with the key once, copied for each row (the key's padding is hashed once, not per row).
    static func mac(_ row: ChainedRow, previous: [UInt8], keyed: HMAC<SHA256>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + previous.count + row.entry.note.utf8.count)
        func field(_ b: some Collection<UInt8>) {
            withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: b)
        }
        func field(_ s: String) { field(s.utf8) }
        func field(_ n: Int64) { withUnsafeBytes(of: n.littleEndian) { field($0) } }
        field(previous)
        field(row.id)
        field(row.chain)
        field(row.entry.incident)
        field(row.entry.at.ms)
        field(row.entry.actor)
        field(row.entry.action.rawValue)
        field(row.entry.note)
        field(row.entry.channel.rawValue)
        field(row.entry.osUser)
        var h = keyed
        // A raw buffer, and the MAC copied as bytes: the Array and sequence forms cost more than the hashing.
        bytes.withUnsafeBytes { h.update(data: $0) }
        return h.finalize().withUnsafeBytes { Array($0) }
    }

    /// What `verify` found wrong first.
    public struct Break: Equatable, Sendable, CustomStringConvertible {
        /// The raw values name the kind in `--json` output and in the engine's recorded check.
        public enum Kind: String, Sendable, Equatable, Codable {
            case changedOrOutOfOrder = "changed", missingMAC = "missing_mac", cutOff = "cut_off"
        }
        public var kind: Kind
        public var chain: String
        /// The first row whose MAC does not hold (for `cutOff`: the last row left, 0 for none).
        public var row: Int64
        public init(kind: Kind, chain: String, row: Int64) { self.kind = kind; self.chain = chain; self.row = row }

        public var description: String {
            let what = "chain \(chain.isEmpty ? "''" : chain): "
            let todo = "Treat the trail from there on as untrusted: compare the store with its last backup and the engine's "
                + "`audit heads` log lines, and find out who could write the store."
            switch kind {
            case .changedOrOutOfOrder:
                return what + "audit row \(row) does not match its MAC: it, or a row before it in the chain, was changed, "
                    + "deleted or inserted. " + todo
            case .missingMAC:
                return what + "audit row \(row) has no MAC: it was written without the audit key (a person's action by "
                    + "someone who cannot read the key: the command warned then), or its MAC was removed. Check that "
                    + "row against the person's account of it. " + todo
            case .cutOff:
                return what + "the rows after audit row \(row) are missing (the chain's recorded head is later): rows "
                    + "were cut off the end. " + todo
            }
        }
    }

    /// Checks rows in id order. `heads`: each chain's head as recorded elsewhere (the store's `audit_head`, the
    /// engine's log); a recorded MAC may be only the first bytes of the MAC.
    public static func verify(_ rows: some Sequence<ChainedRow>, key: AuditKey, heads: [String: AuditHead] = [:]) -> Break? {
        var v = AuditVerifier(key: key, heads: [heads])
        for row in rows { if let b = v.check(row) { return b } }
        return v.finish()
    }

    /// The MACs for rows about to be appended, each chained to the previous of its chain; `heads` moves on.
    public static func seal(_ rows: inout [ChainedRow], heads: inout [String: [UInt8]], key: AuditKey) {
        let macs = KeySealer(key: key).seal(rows, previous: heads)
        for i in rows.indices {
            rows[i].mac = macs[i]
            heads[rows[i].chain] = macs[i]
        }
    }
}

/// Seals the Store's audit appends with a key.
public struct KeySealer: AuditSealer {
    public let key: AuditKey
    /// The HMAC set up with the key once for the sealer's life (the live engine seals every commit's rows).
    private let keyed: HMAC<SHA256>
    public init(key: AuditKey) { self.key = key; keyed = HMAC<SHA256>(key: key.key) }
    public func seal(_ rows: [AuditRow], previous: [String: [UInt8]]) -> [[UInt8]] {
        var heads = previous
        return rows.map { row in
            let m = AuditChain.mac(row, previous: heads[row.chain] ?? [], keyed: keyed)
            heads[row.chain] = m
            return m
        }
    }
}
