import Foundation

/// The recorded log of each scenario under scenarios/ (its folder holds `registry.yaml` beside it), by name.
public struct ScenarioLog: Sendable {
    public var name: String
    public var folder: URL
    /// The log's file name and its lines.
    public var file: String
    public var lines: [String]
    public var registryPath: String { folder.appendingPathComponent("registry.yaml").path }

    public static func all() throws -> [ScenarioLog] {
        try FileManager.default.contentsOfDirectory(atPath: Repo.scenarios.path).sorted().compactMap { name in
            let folder = Repo.scenarios.appendingPathComponent(name)
            guard let file = try? FileManager.default.contentsOfDirectory(atPath: folder.path)
                .first(where: { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".expected.jsonl") }) else { return nil }
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            return ScenarioLog(name: name, folder: folder, file: file, lines: text.split(separator: "\n").map(String.init))
        }
    }
}
