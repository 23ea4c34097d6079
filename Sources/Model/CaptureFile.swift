import Foundation

/// The capture log's files: one per local day, `YYYY-MM-DD.jsonl`.
public enum CaptureFile {
    public static func name(day: Int) -> String {
        let (y, m, d) = RFC3339.civilFromDays(day)
        return String(format: "%04d-%02d-%02d.jsonl", y, m, d)
    }
}
