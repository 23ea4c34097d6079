import Foundation

/// Where the repository's checked-in files are, worked out once from this file's place (Tests/TestSupport/).
public enum Repo {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The shipped scenario packs: one folder per scenario, its rules, registry and logs.
    public static let scenarios = root.appendingPathComponent("scenarios")
}
