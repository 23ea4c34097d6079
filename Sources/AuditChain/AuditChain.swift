import Crypto
import Model
#if canImport(Glibc)
import Glibc
#endif

/// The secret the audit chain is computed with. It lives outside the store (a file named in the config, 0600),
/// so that someone who can write the store but not read the key cannot recompute the chain after changing a row.
public struct AuditKey: Sendable {
    let key: SymmetricKey

    public init(bytes: [UInt8]) { key = SymmetricKey(data: bytes) }

    /// Reads the key file, or creates it (32 random bytes, mode 0600) when `create` and it does not exist.
    public static func load(path: String, create: Bool) throws(AuditKeyError) -> AuditKey {
        switch FileBytes.read(path) {
        case .success(let bytes):
            guard bytes.count >= 32 else { throw AuditKeyError(path: path, detail: "holds \(bytes.count) bytes, a key has 32") }
            return AuditKey(bytes: Array(bytes.prefix(32)))
        case .failure(let e) where e.isMissing && create:
            let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            let f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard f >= 0 else { throw AuditKeyError(path: path, detail: "cannot create: \(String(cString: strerror(errno)))") }
            defer { close(f) }
            fchmod(f, 0o600)
            let written = bytes.withUnsafeBytes { write(f, $0.baseAddress!, $0.count) }
            guard written == bytes.count, fsync(f) == 0 else {
                throw AuditKeyError(path: path, detail: "cannot write: \(String(cString: strerror(errno)))")
            }
            return AuditKey(bytes: bytes)
        case .failure(let e):
            throw AuditKeyError(path: path, detail: e.isMissing ? "no such file" : e.description)
        }
    }
}

public struct AuditKeyError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var detail: String
    public var description: String { "audit key \(path): \(detail)" }
}

/// One audit row as the chain sees it: every field a person could want to change.
public struct ChainedRow: Sendable, Equatable {
    public var id: Int64
    public var chain: String
    public var entry: AuditEntry
    public var mac: [UInt8]
    public init(id: Int64, chain: String, entry: AuditEntry, mac: [UInt8] = []) {
        self.id = id; self.chain = chain; self.entry = entry; self.mac = mac
    }
}

/// Each audit row carries an HMAC-SHA256 over its fields and the MAC of the previous row of its chain (one chain
/// per community, so appends in different communities do not wait for each other). Changing, deleting, inserting
/// or reordering a row breaks the chain at the first row after it; cutting rows off the end is caught by comparing
/// the chain's head with one written elsewhere (the engine logs the heads at each commit).
public enum AuditChain {
    public static let macBytes = 32

    public static func mac(_ row: ChainedRow, previous: [UInt8], key: AuditKey) -> [UInt8] {
        var h = HMAC<SHA256>(key: key.key)
        var bytes: [UInt8] = []
        func field(_ b: [UInt8]) {
            withUnsafeBytes(of: UInt32(b.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: b)
        }
        func field(_ s: String) { field(Array(s.utf8)) }
        func field(_ n: Int64) { withUnsafeBytes(of: n.littleEndian) { field(Array($0)) } }
        field(previous)
        field(row.id)
        field(row.chain)
        field(row.entry.incident)
        field(row.entry.at.ms)
        field(row.entry.actor)
        field(row.entry.action.rawValue)
        field(row.entry.note)
        h.update(data: bytes)
        return Array(h.finalize())
    }

    /// What `verify` found wrong first.
    public struct Break: Equatable, Sendable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable { case changedOrOutOfOrder, missingMAC, cutOff }
        public var kind: Kind
        public var chain: String
        /// The first row whose MAC does not hold (for `cutOff`: the last row left).
        public var row: Int64
        public var description: String {
            switch kind {
            case .changedOrOutOfOrder:
                "chain \(chain): audit row \(row) does not match its MAC: it, or a row before it in the chain, was changed, deleted or inserted"
            case .missingMAC: "chain \(chain): audit row \(row) has no MAC (written without the key, or its MAC was removed)"
            case .cutOff: "chain \(chain): the rows after audit row \(row) are missing (the chain's recorded head is later)"
            }
        }
    }

    /// Checks rows in id order. `heads`: the last MAC of each chain as recorded outside the store (if known).
    public static func verify(_ rows: some Sequence<ChainedRow>, key: AuditKey, heads: [String: [UInt8]] = [:]) -> Break? {
        var last: [String: (id: Int64, mac: [UInt8])] = [:]
        for row in rows {
            guard row.mac.count == macBytes else { return Break(kind: .missingMAC, chain: row.chain, row: row.id) }
            let previous = last[row.chain]?.mac ?? []
            guard mac(row, previous: previous, key: key) == row.mac else {
                return Break(kind: .changedOrOutOfOrder, chain: row.chain, row: row.id)
            }
            last[row.chain] = (row.id, row.mac)
        }
        for (chain, head) in heads.sorted(by: { $0.key < $1.key }) where last[chain]?.mac != head {
            return Break(kind: .cutOff, chain: chain, row: last[chain]?.id ?? 0)
        }
        return nil
    }

    /// The MACs for rows about to be appended, each chained to the previous of its chain; `heads` moves on.
    public static func seal(_ rows: inout [ChainedRow], heads: inout [String: [UInt8]], key: AuditKey) {
        for i in rows.indices {
            let m = mac(rows[i], previous: heads[rows[i].chain] ?? [], key: key)
            rows[i].mac = m
            heads[rows[i].chain] = m
        }
    }
}
