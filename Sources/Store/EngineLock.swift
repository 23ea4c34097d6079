import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who holds a store for writing events: the process that took `EngineLock`.
public struct LockHolder: Equatable, Sendable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    public var since: String
    public var role: String
    public var description: String { "\(role) pid \(pid) on \(host) since \(since)" }

    init?(text: String) {
        var f: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            f[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let p = f["pid"].flatMap(Int32.init) else { return nil }
        pid = p; host = f["host"] ?? "?"; since = f["since"] ?? "?"; role = f["role"] ?? "engine"
    }

    init(pid: Int32, host: String, since: String, role: String) {
        self.pid = pid; self.host = host; self.since = since; self.role = role
    }

    var text: String { "pid=\(pid)\nhost=\(host)\nsince=\(since)\nrole=\(role)\n" }
}

public struct EngineLockError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable { case held, io }
    public var code: Code
    public var path: String
    public var holder: LockHolder?
    public var detail: String
    public var description: String {
        switch code {
        case .held:
            "store \(path) is in use by another City Eye engine (\(holder?.description ?? "holder unknown")): one engine "
                + "or replay writes a store at a time; stop that one first, or use another --db"
        case .io: "cannot lock store \(path): \(detail)"
        }
    }
}

/// One engine (a `cityeye run` or a `replay`) writes events into a store at a time. The lock is an OS lock
/// (`flock`) on `<store>.lock`: it dies with its process, so a restart after a crash takes the store over at once,
/// with no lease to wait out. People's commands (ack, resolve…) and readers do not take it. The file also says who
/// holds it, for the message the next one gets.
public final class EngineLock: @unchecked Sendable {
    public let path: String
    private var fd: Int32

    /// Takes the lock for `store`, or throws `.held` naming the holder.
    public init(store: String, role: String) throws(EngineLockError) {
        path = store + ".lock"
        let f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard f >= 0 else {
            throw EngineLockError(code: .io, path: store, holder: nil, detail: String(cString: strerror(errno)))
        }
        if flock(f, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            let holder = Self.read(f)
            close(f)
            if e == EWOULDBLOCK {
                throw EngineLockError(code: .held, path: store, holder: holder, detail: "")
            }
            throw EngineLockError(code: .io, path: store, holder: nil, detail: String(cString: strerror(e)))
        }
        fchmod(f, 0o640)
        fd = f
        var host = [UInt8](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let me = LockHolder(pid: getpid(), host: String(decoding: host.prefix { $0 != 0 }, as: UTF8.self),
                            since: ISO8601DateFormatter().string(from: Date()), role: role)
        ftruncate(f, 0)
        let text = Array(me.text.utf8)
        _ = text.withUnsafeBytes { pwrite(f, $0.baseAddress!, $0.count, 0) }
    }

    /// Who holds the lock on `store` now, if anyone (for `cityeye status`).
    public static func holder(of store: String) -> LockHolder? {
        let f = open(store + ".lock", O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return nil }
        defer { close(f) }
        if flock(f, LOCK_SH | LOCK_NB) == 0 { flock(f, LOCK_UN); return nil }
        return read(f)
    }

    /// Lets go of the store (also when the process ends, however it ends).
    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    private static func read(_ f: Int32) -> LockHolder? {
        var buf = [UInt8](repeating: 0, count: 1024)
        let n = buf.withUnsafeMutableBytes { pread(f, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { return nil }
        return LockHolder(text: String(decoding: buf[0..<n], as: UTF8.self))
    }
}
