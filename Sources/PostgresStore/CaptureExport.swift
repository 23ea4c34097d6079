import Foundation
import Model
import Store

/// Writes a partitioned city's capture out of the store (`capture_line`) into day files, `YYYY-MM-DD.jsonl`, as a
/// single engine's `capture_dir` holds them, and deletes what it wrote from the store. Each line is written once,
/// whenever a run is interrupted: the folder's `.cityeye-capture` file says which lines its files hold and, while a
/// run writes, how long each file it appends to was before, so the next run cuts a half-written run back first.
public struct CaptureExport {
    public let store: PostgresStore
    public let directory: String
    /// Rows read from the store at a time: each is a batch's lines of a day, up to ~2,000 lines (~250 KB).
    public var chunk = 40
    /// Told every million lines written.
    public var progress: (Int) -> Void = { _ in }

    public init(store: PostgresStore, directory: String) {
        self.store = store
        self.directory = directory
    }

    public struct Result: Equatable, Sendable {
        /// Lines written this run, by day file.
        public var written: [String: Int] = [:]
        /// Files cut back to where an interrupted run had found them (name, bytes cut).
        public var cutBack: [String: UInt64] = [:]
        public var total: Int { written.values.reduce(0, +) }
    }

    /// The folder's record: the store it holds the capture of, the last line written, and while a run writes, the
    /// line it writes up to and each file's length before it.
    struct Record: Equatable {
        var store: String
        var through: Int64
        var pending: Int64?
        var lengths: [String: UInt64] = [:]

        var text: String {
            var lines = ["store \(store)", "through \(through)"]
            if let pending { lines.append("pending \(pending)") }
            lines += lengths.keys.sorted().map { "file \($0) \(lengths[$0]!)" }
            return lines.joined(separator: "\n") + "\n"
        }

        static func parse(_ text: String, path: String) throws -> Record {
            var r = Record(store: "", through: -1)
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ", maxSplits: 1).map(String.init)
                guard f.count == 2 else { throw ExportError("\(path): unreadable line `\(line)`; remove the file only if the folder holds no capture yet") }
                switch f[0] {
                case "store": r.store = f[1]
                case "through": r.through = Int64(f[1]) ?? -1
                case "pending": r.pending = Int64(f[1])
                case "file":
                    let g = f[1].split(separator: " ").map(String.init)
                    guard g.count == 2, let n = UInt64(g[1]) else { throw ExportError("\(path): unreadable line `\(line)`") }
                    r.lengths[g[0]] = n
                default: throw ExportError("\(path): unknown line `\(line)`")
                }
            }
            guard !r.store.isEmpty, r.through >= 0 else { throw ExportError("\(path): no `store` or `through` line") }
            return r
        }
    }

    public struct ExportError: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    var recordPath: String { (directory as NSString).appendingPathComponent(".cityeye-capture") }

    public func run() throws -> Result {
        PrivateFiles.createDirectory(directory)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw ExportError("cannot make the capture folder \(directory)")
        }
        // One run at a time in a folder: two would append the same lines. The lock goes with the process.
        let lockPath = (directory as NSString).appendingPathComponent(".cityeye-capture.lock")
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, PrivateFiles.fileMode)
        guard lock >= 0 else { throw ExportError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            throw ExportError("another `cityeye capture` is writing \(directory) now; run this one after it")
        }
        var result = Result()
        var record = try readRecord() ?? Record(store: store.path, through: 0)
        guard record.store == store.path else {
            throw ExportError("\(directory) holds the capture of another store (\(record.store)), not of \(store.path): name another folder")
        }
        if record.pending != nil {
            // An interrupted run: its appends are cut off, and its lines are still in the store.
            for (name, length) in record.lengths {
                let cut = try CaptureFile.cutBack((directory as NSString).appendingPathComponent(name), to: length)
                if cut > 0 { result.cutBack[name] = cut }
            }
            record.pending = nil
            record.lengths = [:]
            try writeRecord(record)
        }
        // Lines written by an earlier run that stopped before deleting them.
        try store.deleteCaptured(through: record.through)
        let last = try store.capturedThrough()
        guard last > record.through else { return result }

        var pending = record
        pending.pending = last
        for day in try store.capturedDays(after: record.through, through: last) {
            let name = CaptureFile.name(day: day)
            pending.lengths[name] = CaptureFile.size((directory as NSString).appendingPathComponent(name))
        }
        try writeRecord(pending)

        var files: [String: FileHandle] = [:]
        defer { for f in files.values { try? f.close() } }
        var buffers: [String: [UInt8]] = [:]
        func flush(_ name: String) throws {
            guard let bytes = buffers[name], !bytes.isEmpty else { return }
            let handle: FileHandle
            if let h = files[name] { handle = h } else {
                let path = (directory as NSString).appendingPathComponent(name)
                PrivateFiles.createFile(path)
                guard let h = FileHandle(forWritingAtPath: path) else { throw ExportError("cannot write \(path)") }
                _ = try h.seekToEnd()
                files[name] = h
                handle = h
            }
            try handle.write(contentsOf: bytes)
            buffers[name] = []
        }
        var after = record.through
        var written = 0
        while after < last {
            let rows = try store.capturedLines(after: after, through: last, limit: chunk)
            guard let end = rows.last?.seq else { break }
            var lines = 0
            for (_, l) in rows {
                let name = CaptureFile.name(day: l.day)
                buffers[name, default: []].append(contentsOf: l.text)
                result.written[name, default: 0] += l.count
                lines += l.count
                if buffers[name]!.count >= 1 << 20 { try flush(name) }
            }
            written += lines
            if written / 1_000_000 != (written - lines) / 1_000_000 { progress(written) }
            after = end
        }
        for name in buffers.keys { try flush(name) }
        for f in files.values { try f.synchronize() }
        try writeRecord(Record(store: store.path, through: last))
        try store.deleteCaptured(through: last)
        return result
    }

    func readRecord() throws -> Record? {
        guard FileManager.default.fileExists(atPath: recordPath) else { return nil }
        guard let data = FileManager.default.contents(atPath: recordPath) else { throw ExportError("cannot read \(recordPath)") }
        return try Record.parse(String(decoding: data, as: UTF8.self), path: recordPath)
    }

    /// Replaced whole (a new file, synced, renamed over the old one), so a crash leaves the old record or the new.
    func writeRecord(_ r: Record) throws {
        let temporary = recordPath + ".new"
        try? FileManager.default.removeItem(atPath: temporary)
        PrivateFiles.createFile(temporary)
        guard let h = FileHandle(forWritingAtPath: temporary) else { throw ExportError("cannot write \(temporary)") }
        try h.write(contentsOf: Array(r.text.utf8))
        try h.synchronize()
        try h.close()
        guard rename(temporary, recordPath) == 0 else {
            throw ExportError("cannot replace \(recordPath): \(String(cString: strerror(errno)))")
        }
        let dir = open(directory, O_RDONLY)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

}
