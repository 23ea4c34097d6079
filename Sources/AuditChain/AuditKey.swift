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
            // Written whole under a name of its own, then linked into place: several engines starting at once on one
            // store (partitions) never read a key half written, and all but the first use the first one's key.
            let temporary = path + ".\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
            let f = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard f >= 0 else { throw AuditKeyError(path: path, detail: "cannot create: \(String(cString: strerror(errno)))") }
            defer { unlink(temporary) }
            fchmod(f, 0o600)
            let written = bytes.withUnsafeBytes { write(f, $0.baseAddress!, $0.count) }
            guard written == bytes.count, fsync(f) == 0 else {
                let why = String(cString: strerror(errno))
                close(f)
                throw AuditKeyError(path: path, detail: "cannot write: \(why)")
            }
            close(f)
            if link(temporary, path) == 0 { return AuditKey(bytes: bytes) }
            if errno == EEXIST { return try load(path: path, create: false) }
            throw AuditKeyError(path: path, detail: "cannot create: \(String(cString: strerror(errno)))")
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

extension AuditKey {
    /// Where the key is when nothing names it: next to the store, `<store>.audit-key`.
    public static func defaultPath(store: String) -> String { store + ".audit-key" }
}
