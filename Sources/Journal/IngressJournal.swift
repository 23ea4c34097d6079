import Model
#if canImport(Glibc)
import Glibc
#endif

/// Where the journal stands: a segment's number and a byte offset in it. Positions only grow.
public struct JournalPosition: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var segment: UInt64
    public var offset: UInt64
    public init(segment: UInt64, offset: UInt64) { self.segment = segment; self.offset = offset }
    public static let start = JournalPosition(segment: 1, offset: 0)
    public static func < (a: JournalPosition, b: JournalPosition) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
    public var description: String { "\(segment):\(offset)" }

    /// As the store keeps it (one text value).
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let s = UInt64(parts[0]), let o = UInt64(parts[1]), s >= 1 else { return nil }
        self.init(segment: s, offset: o)
    }
}

/// One message as it arrived from the broker.
public struct JournalRecord: Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var arrivedAt: Instant
    public var retained: Bool
    /// The position just after this record: committing it means this record (and all before) is processed.
    public var end: JournalPosition
}

/// When the journal forces its writes to disk. A process crash loses nothing in any mode (`write(2)` has put the
/// bytes in the kernel); a power cut loses what was written since the last sync.
public enum JournalSync: Equatable, Sendable {
    /// Every append is synced before it returns: nothing acknowledged is lost to a power cut, at a cost per message.
    case always
    /// Synced at most this many milliseconds after an append: a power cut loses at most that window.
    case interval(ms: Int)
    /// Left to the kernel (typically up to 30 s).
    case never

    public static let `default` = JournalSync.interval(ms: 200)
}

/// A journal failure, with the path and what to do.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable { case diskFull, io, corrupt }
    public var code: Code
    public var path: String
    public var detail: String
    public var description: String {
        switch code {
        case .diskFull: "journal \(path): the disk is full (\(detail)); free space there — the engine waits and retries"
        case .io: "journal \(path): \(detail)"
        case .corrupt: "journal \(path): \(detail)"
        }
    }
    static func from(errno e: Int32, path: String, doing what: String) -> JournalError {
        JournalError(code: e == ENOSPC || e == EDQUOT ? .diskFull : .io, path: path,
                     detail: "\(what): \(String(cString: strerror(e)))")
    }
}

/// The ingress journal: every message the broker hands the engine is appended here *before* libmosquitto may
/// acknowledge it, so a message the broker was told we have survives a crash until a store commit covers it.
/// Append-only segment files `<number>.jnl` in one folder; each record is
/// `[u32 body length][u32 checksum][i64 arrival ms][u8 flags][u8 0][u16 topic length][topic][payload]` (little
/// endian). A torn record at the end (a crash inside a write) is cut off when the journal is opened. Thread-safe:
/// the MQTT thread appends while the engine reads positions and releases segments.
public final class IngressJournal: @unchecked Sendable {
    public let directory: String
    public let segmentBytes: UInt64
    public let sync: JournalSync
    private let lock = NSLockish()
    private var fd: Int32 = -1
    private var current: UInt64
    private var offset: UInt64
    private var unsynced = false

    static let headerBytes = 8, bodyHeaderBytes = 12
    /// A record longer than this is corruption (MQTT's own limit is 256 MiB; City Eye rejects over 256 KiB).
    static let maxRecordBytes = 512 << 20

    public init(directory: String, segmentBytes: UInt64 = 64 << 20, sync: JournalSync = .default) throws(JournalError) {
        self.directory = directory
        self.segmentBytes = segmentBytes
        self.sync = sync
        PrivateFiles.createDirectory(directory)
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw JournalError.from(errno: errno, path: directory, doing: "cannot create the folder")
        }
        let segments = try Self.segments(in: directory)
        current = segments.last ?? 1
        offset = 0
        try open(segment: current)
        offset = try recoverTail()
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Where the next record will start.
    public var end: JournalPosition { lock.locked { JournalPosition(segment: current, offset: offset) } }

    func path(of segment: UInt64) -> String {
        var name = String(segment)
        while name.count < 12 { name = "0" + name }
        return directory + "/" + name + ".jnl"
    }

    /// Appends one message and returns the position after it. On an error nothing of the record counts (a partial
    /// write is cut back), so the caller can retry the same message.
    @discardableResult
    public func append(topic: String, payload: UnsafeRawBufferPointer, arrivedAt: Instant, retained: Bool) throws(JournalError) -> JournalPosition {
        var topic = topic
        let topicBytes = topic.withUTF8 { Array($0) }
        let bodyBytes = Self.bodyHeaderBytes + topicBytes.count + payload.count
        var record = [UInt8](repeating: 0, count: Self.headerBytes + bodyBytes)
        record.withUnsafeMutableBytes { r in
            r.storeBytes(of: UInt32(bodyBytes).littleEndian, toByteOffset: 0, as: UInt32.self)
            r.storeBytes(of: arrivedAt.ms.littleEndian, toByteOffset: 8, as: Int64.self)
            r[16] = retained ? 1 : 0
            r.storeBytes(of: UInt16(clamping: topicBytes.count).littleEndian, toByteOffset: 18, as: UInt16.self)
            var at = 20
            for b in topicBytes { r[at] = b; at += 1 }
            if payload.count > 0 { (r.baseAddress! + at).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            let sum = UInt32(truncatingIfNeeded: ByteHash.hash(UnsafeRawBufferPointer(rebasing: r[Self.headerBytes...])))
            r.storeBytes(of: sum.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        return try lock.locked { () throws(JournalError) -> JournalPosition in
            if offset > 0 && offset + UInt64(record.count) > segmentBytes {
                try syncNow()
                close(fd)
                fd = -1
                current += 1
                offset = 0
                try open(segment: current)
            }
            try write(record)
            offset += UInt64(record.count)
            unsynced = true
            // `.interval` is synced by `flush()` from a thread of the engine's (`LiveEngine.startJournalSyncer`), never here: an
            // fdatasync can take tens of milliseconds, and this runs on the MQTT thread, in front of every message.
            if case .always = sync { try syncNow() }
            return JournalPosition(segment: current, offset: offset)
        }
    }

    /// Makes the next record start after `position` (a store whose committed position lies beyond this journal:
    /// the journal folder was moved or emptied). Appends then go to a new segment, so a restart does not skip them.
    public func advance(past position: JournalPosition) throws(JournalError) {
        try lock.locked { () throws(JournalError) in
            guard JournalPosition(segment: current, offset: offset) < position else { return }
            try syncNow()
            close(fd)
            fd = -1
            current = position.segment + 1
            offset = 0
            try open(segment: current)
        }
    }

    /// Forces what was appended so far to disk. The sync itself runs outside the journal's lock (on a duplicate of
    /// the segment's descriptor), so appends from the MQTT thread go on meanwhile; for `.interval` the engine calls
    /// this from a thread of its own every interval.
    public func flush() throws(JournalError) {
        let taken = lock.locked { () -> (fd: Int32, segment: UInt64)? in
            guard unsynced, fd >= 0 else { return nil }
            let copy = dup(fd)
            guard copy >= 0 else { return (-errno, current) }
            unsynced = false
            return (copy, current)
        }
        guard let taken else { return }
        guard taken.fd >= 0 else { throw JournalError.from(errno: -taken.fd, path: path(of: taken.segment), doing: "cannot sync") }
        defer { close(taken.fd) }
        if fdatasync(taken.fd) != 0 {
            let e = errno
            lock.locked { if current == taken.segment { unsynced = true } }
            throw JournalError.from(errno: e, path: path(of: taken.segment), doing: "cannot sync")
        }
    }

    /// Every record after `position`, in order (what a restart must process before it subscribes).
    public func records(after position: JournalPosition, _ body: (JournalRecord) throws -> Void) throws {
        for segment in try Self.segments(in: directory) where segment >= position.segment {
            let p = path(of: segment)
            let bytes = try Self.read(path: p)
            var at = segment == position.segment ? Int(position.offset) : 0
            while let (record, next) = Self.decode(bytes, at: at, segment: segment) {
                try body(record)
                at = next
            }
        }
    }

    /// Removes the segments wholly before `position` (their records are committed).
    public func release(upTo position: JournalPosition) throws(JournalError) {
        for segment in try Self.segments(in: directory) where segment < position.segment {
            let p = path(of: segment)
            if unlink(p) != 0 && errno != ENOENT { throw JournalError.from(errno: errno, path: p, doing: "cannot remove") }
        }
    }

    /// The bytes held in the journal's segments.
    public func size() throws(JournalError) -> UInt64 {
        var total: UInt64 = 0
        for segment in try Self.segments(in: directory) {
            var st = stat()
            if stat(path(of: segment), &st) == 0 { total += UInt64(st.st_size) }
        }
        return total
    }

    public static func monotonicMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    // MARK: files

    private func open(segment: UInt64) throws(JournalError) {
        let p = path(of: segment)
        PrivateFiles.createFile(p)
        let f = Glibc.open(p, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard f >= 0 else { throw JournalError.from(errno: errno, path: p, doing: "cannot open") }
        fd = f
    }

    private func write(_ record: [UInt8]) throws(JournalError) {
        var done = 0
        let failure: Int32? = record.withUnsafeBytes { r in
            while done < r.count {
                let n = Glibc.write(fd, r.baseAddress! + done, r.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let e = failure {
            // Cut a partial record back so that the file stays a sequence of whole records.
            if done > 0 { _ = ftruncate(fd, off_t(offset)) }
            throw JournalError.from(errno: e, path: path(of: current), doing: "cannot append")
        }
    }

    private func syncNow() throws(JournalError) {
        guard unsynced, fd >= 0 else { return }
        if fdatasync(fd) != 0 { throw JournalError.from(errno: errno, path: path(of: current), doing: "cannot sync") }
        unsynced = false
    }

    /// Cuts a torn record off the end of the current segment; returns the segment's length after that.
    private func recoverTail() throws(JournalError) -> UInt64 {
        let p = path(of: current)
        let bytes = try Self.read(path: p)
        var at = 0
        while let (_, next) = Self.decode(bytes, at: at, segment: current) { at = next }
        if at < bytes.count {
            if ftruncate(fd, off_t(at)) != 0 { throw JournalError.from(errno: errno, path: p, doing: "cannot cut a torn record") }
        }
        return UInt64(at)
    }

    static func segments(in directory: String) throws(JournalError) -> [UInt64] {
        guard let d = opendir(directory) else { throw JournalError.from(errno: errno, path: directory, doing: "cannot list") }
        defer { closedir(d) }
        var out: [UInt64] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".jnl"), let n = UInt64(name.dropLast(4)), n >= 1 { out.append(n) }
        }
        return out.sorted()
    }

    static func read(path: String) throws(JournalError) -> [UInt8] {
        switch FileBytes.read(path) {
        case .success(let bytes): return bytes
        case .failure(let e) where e.isMissing: return []
        case .failure(let e): throw JournalError.from(errno: e.errno, path: path, doing: "cannot read")
        }
    }

    /// The record at `at` and where the next one starts, or nil at the end or at a torn/corrupt record.
    static func decode(_ bytes: [UInt8], at: Int, segment: UInt64) -> (JournalRecord, Int)? {
        bytes.withUnsafeBytes { b -> (JournalRecord, Int)? in
            guard at + headerBytes + bodyHeaderBytes <= b.count else { return nil }
            let length = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            guard length >= bodyHeaderBytes, length <= maxRecordBytes, at + headerBytes + length <= b.count else { return nil }
            let body = UnsafeRawBufferPointer(rebasing: b[(at + headerBytes)..<(at + headerBytes + length)])
            let sum = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
            guard sum == UInt32(truncatingIfNeeded: ByteHash.hash(body)) else { return nil }
            let ms = Int64(littleEndian: body.loadUnaligned(as: Int64.self))
            let retained = body[8] & 1 != 0
            let topicLength = Int(UInt16(littleEndian: body.loadUnaligned(fromByteOffset: 10, as: UInt16.self)))
            guard bodyHeaderBytes + topicLength <= length else { return nil }
            let topic = String(decoding: body[bodyHeaderBytes..<(bodyHeaderBytes + topicLength)], as: UTF8.self)
            let payload = Array(body[(bodyHeaderBytes + topicLength)...])
            let next = at + headerBytes + length
            return (JournalRecord(topic: topic, payload: payload, arrivedAt: Instant(ms: ms), retained: retained,
                                  end: JournalPosition(segment: segment, offset: UInt64(next))), next)
        }
    }
}

/// A mutex usable from typed-throws closures (Foundation's NSLock.withLock rethrows untyped).
final class NSLockish: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}
