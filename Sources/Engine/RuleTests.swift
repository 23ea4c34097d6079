import Foundation
import Model
import Store

/// Rule tests as files (`cityeye rules test DIR`): every log `<name>.jsonl` under a folder with a
/// `<name>.expected.jsonl` beside it is replayed into a temporary store with the rules and the folder's registry,
/// and the incidents are compared field by field with the expected ones (the lines `cityeye incidents --json`
/// prints). `<name>.until` moves the clock on at the end; `<name>.expected-summary.json` checks the counts.
public struct RuleTest: Sendable {
    public var log: String
    public var expected: String
    /// The `registry.yaml` of the log's folder, or of the nearest folder above it that has one.
    public var registry: String?
    public var until: Instant?
    public var summary: String?
    /// `log` without the folder given and without `.jsonl`, for messages.
    public var name: String
    /// What is wrong with the test's own files (a `.until` that is not a time), found before it runs.
    public var problem: String?
}

/// What one rule test found.
public struct RuleTestResult: Sendable {
    public var test: RuleTest
    /// Empty when the test passed.
    public var differences: [String]
    public var incidents: Int
    public var passed: Bool { differences.isEmpty }
}

public enum RuleTests {
    /// The fields compared: those of docs/contract.md §10's `incidents --json`.
    public static let compared = ["id", "rule", "scenario", "severity", "key", "device", "subject", "community", "grid",
                                  "first_seen", "last_seen", "count", "condition", "status", "assignee", "escalated", "overdue"]

    /// Every test under `folder`, in path order.
    public static func find(in folder: String) -> [RuleTest] {
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        let paths = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).sorted()
        var tests: [RuleTest] = []
        for rel in paths where rel.hasSuffix(".jsonl") && !rel.hasSuffix(".expected.jsonl") {
            let log = root + "/" + rel
            let base = String(log.dropLast(".jsonl".count))
            guard FileManager.default.fileExists(atPath: base + ".expected.jsonl") else { continue }
            let until = (try? String(contentsOfFile: base + ".until", encoding: .utf8))
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            let summary = base + ".expected-summary.json"
            tests.append(RuleTest(log: log, expected: base + ".expected.jsonl", registry: registry(near: log, root: root),
                                  until: until.flatMap(RFC3339.parse),
                                  summary: FileManager.default.fileExists(atPath: summary) ? summary : nil,
                                  name: String(rel.dropLast(".jsonl".count)),
                                  problem: until.flatMap { RFC3339.parse($0) == nil ? "\(base).until: \($0) is not an RFC 3339 time" : nil }))
        }
        return tests
    }

    static func registry(near log: String, root: String) -> String? {
        var dir = (log as NSString).deletingLastPathComponent
        while dir.hasPrefix(root) {
            let candidate = dir + "/registry.yaml"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            if dir == root { break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// Replays the test's log with the rules under `rules` into a store in `scratch` (removed afterwards).
    public static func run(_ test: RuleTest, rules: String, scratch: String) -> RuleTestResult {
        var result = RuleTestResult(test: test, differences: [], incidents: 0)
        guard let registry = test.registry else {
            result.differences = ["no registry.yaml in \((test.log as NSString).deletingLastPathComponent) or above it"]
            return result
        }
        if let problem = test.problem {
            result.differences = [problem]
            return result
        }
        let folder = scratch + "/rule-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let pipeline = try EngineSetup(registry: registry, rules: rules, store: folder + "/store.db").open()
            let summary = try Replay.run(pipeline, files: [test.log], until: test.until)
            let actual = try pipeline.store.incidents().map(fields)
            pipeline.store.close()
            result.incidents = actual.count
            result.differences = try compare(actual, expectedFile: test.expected)
            if let s = test.summary { result.differences += try compareSummary(summary.counts, file: s) }
        } catch {
            result.differences = ["\(error)"]
        }
        return result
    }

    public static func fields(_ i: Incident) -> [String: String] {
        ["id": String(i.id), "rule": i.rule, "scenario": i.scenario, "severity": i.severity.rawValue, "key": i.key,
         "device": i.device, "subject": i.subject, "community": i.community, "grid": i.grid,
         "first_seen": i.firstSeen.description, "last_seen": i.lastSeen.description, "count": String(i.count),
         "condition": i.condition.rawValue, "status": i.status.rawValue, "assignee": i.assignee,
         "escalated": String(i.escalated), "overdue": String(i.overdue)]
    }

    /// Differences between incidents and the expected lines, naming the incident and the field.
    static func compare(_ actual: [[String: String]], expectedFile: String) throws -> [String] {
        let name = (expectedFile as NSString).lastPathComponent
        var expected: [[String: String]] = []
        let lines = try String(contentsOfFile: expectedFile, encoding: .utf8).split(separator: "\n")
        for (n, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return ["\(name):\(n + 1): not a JSON object"]
            }
            var e: [String: String] = [:]
            for k in compared {
                switch object[k] {
                case let b as Bool where k == "escalated" || k == "overdue": e[k] = String(b)
                case let n as NSNumber: e[k] = n.stringValue
                case let s as String: e[k] = s
                default: return ["\(name):\(n + 1): field \(k) is missing or not a string, number or boolean"]
                }
            }
            expected.append(e)
        }
        var out: [String] = []
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            let diffs = compared.filter { a[$0] != e[$0] }.map { "\($0): expected \(e[$0] ?? "-"), got \(a[$0] ?? "-")" }
            if !diffs.isEmpty {
                out.append("incident #\(i + 1) (\(a["rule"] ?? "?") for \(a["key"] ?? "?")): " + diffs.joined(separator: "; "))
            }
        }
        if actual.count > expected.count {
            for a in actual[expected.count...] { out.append("unexpected incident \(a["id"]!): \(a["rule"]!) for \(a["key"]!) first seen \(a["first_seen"]!)") }
        } else if expected.count > actual.count {
            for e in expected[actual.count...] { out.append("missing incident \(e["id"]!): \(e["rule"]!) for \(e["key"]!) first seen \(e["first_seen"]!)") }
        }
        return out
    }

    static func compareSummary(_ counts: IngestCounts, file: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        guard let s = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return ["\((file as NSString).lastPathComponent): not a JSON object"]
        }
        var out: [String] = []
        func check(_ what: String, _ got: Int, _ want: Int?) { if let want, want != got { out.append("\(what): expected \(want), got \(got)") } }
        check("accepted", counts.accepted, s["accepted"] as? Int)
        check("duplicates", counts.duplicates, s["duplicates"] as? Int)
        if let r = s["rejected"] as? [String: Int] {
            for (reason, n) in r.sorted(by: { $0.key < $1.key }) {
                check("rejected \(reason)", RejectReason(rawValue: reason).map { counts.rejected[$0] ?? 0 } ?? -1, n)
            }
            check("rejected in all", counts.rejectedTotal, r.values.reduce(0, +))
        }
        return out
    }
}
