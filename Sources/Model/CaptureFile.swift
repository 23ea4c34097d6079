import Foundation

/// The capture log's files: one per local day, `YYYY-MM-DD.jsonl`.
public enum CaptureFile {
    public static func name(day: Int) -> String {
        let (y, m, d) = RFC3339.civilFromDays(day)
        return String(format: "%04d-%02d-%02d.jsonl", y, m, d)
    }

    /// A file's length (0 if it is missing).
    public static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Cuts a capture file back to `length` bytes, synced (what was written past a committed or recorded point);
    /// how many bytes it cut (0: it was not longer, or is missing).
    public static func cutBack(_ path: String, to length: UInt64) throws -> UInt64 {
        let now = size(path)
        guard now > length else { return 0 }
        guard let h = FileHandle(forWritingAtPath: path) else { throw WriteError(description: "cannot write capture log \(path)") }
        defer { try? h.close() }
        try h.truncate(atOffset: length)
        try h.synchronize()
        return now - length
    }
}
