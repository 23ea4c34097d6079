import Foundation
import Model
import YAMLSupport

/// A rule file problem: file, line, rule id and what is wrong.
public typealias RuleError = YAMLFileError
public typealias RuleProblem = YAMLFileError

/// The rules loaded from every rule file under a folder.
public struct RuleSet: @unchecked Sendable {
    var compiled: [Rule]
    public var rules: [RuleRef] { compiled.map(\.ref) }
    public private(set) var files: [String]
    /// The schema files found under the folder, declared before any rule was compiled (`SchemaFile`).
    public private(set) var schemaSources: [SchemaSource] = []

    /// The rules keyed by a field of the event's data (`key: data.<field>`): one key may gather the events of devices
    /// in several communities (SPEC §6.4's `repeat-visitor`, keyed by `data.person`), so partitions by community
    /// would each see a part of it. Partitioned engines give these rules one owner (docs/scale.md).
    public var keyedAcrossCommunities: [RuleRef] {
        compiled.filter { if case .data = $0.key { return true } else { return false } }.map(\.ref)
    }

    /// The event types the rules listen to (to raise, clear, follow up or excuse); nil when a rule listens to every
    /// type of its devices' events.
    public var eventTypesHeard: Set<EventType>? {
        var heard = Set<EventType>()
        for rule in compiled {
            for trigger in rule.listeners {
                guard let types = trigger.types else { return nil }
                heard.formUnion(types)
            }
        }
        return heard
    }

    /// The devices whose events can raise these rules or change their state: of a device type a rule names (any, when
    /// it names none) and, when every condition the rule listens on needs device attributes (`Rule.attrsToMatter`),
    /// with those of one of its conditions (present and not null). nil when a rule names no device type and some event
    /// of any device can matter to it. The partition `keyed` subscribes to these devices only; on the others the rules
    /// can only be not applicable, which the community partitions count (`RuleEngine`'s `gapsOf`).
    public func devicesThatCanAffect(in registry: Registry) -> Set<String>? {
        var out = Set<String>()
        for rule in compiled {
            let required = rule.attrsToMatter
            if required == nil && rule.deviceTypes == nil { return nil }
            for d in registry.catalog.devices where rule.deviceTypes.map({ $0.contains(d.type) }) ?? true {
                if required?.contains(where: { $0.allSatisfy(d.attrs.holds) }) ?? true { out.insert(d.id) }
            }
        }
        return out
    }

    /// The same rule set with only the rules `keep` says yes to.
    public func filtered(_ keep: (RuleRef) -> Bool) -> RuleSet {
        RuleSet(compiled: compiled.filter { keep($0.ref) }, files: files, schemaSources: schemaSources)
    }

    /// Loads every `*.yaml`/`*.yml` under `directory` (recursively, in path order) with a top-level `rules` key,
    /// after declaring the types of every schema file among them (top-level `event_types`/`device_types`).
    public static func load(directory: String) throws(RuleError) -> RuleSet {
        var problems: [RuleProblem] = []
        let set = scan(directory: directory, problems: &problems)
        if let first = problems.first { throw first }
        return set
    }

    /// Every problem in the rule files under `directory`, for `cityeye rules check`.
    public static func check(directory: String) -> [RuleProblem] {
        var problems: [RuleProblem] = []
        _ = scan(directory: directory, problems: &problems)
        return problems
    }

    static func scan(directory: String, problems: inout [RuleProblem]) -> RuleSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            problems.append(RuleProblem(file: directory, line: nil, "no such rules folder"))
            return RuleSet(compiled: [], files: [], schemaSources: [])
        }
        let paths = (FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
        var rules: [Rule] = []
        var files: [String] = []
        var ids: [String: String] = [:]
        var ruleDocs: [(path: String, doc: YAMLValue)] = []
        var schemaSources: [SchemaSource] = []
        for path in paths {
            let doc: YAMLValue
            do { doc = try YAMLValue.load(path: path, what: "rule") } catch { problems.append(error); continue }
            guard let top = try? doc.entries("rule file") else { continue }
            if SchemaFile.isSchema(top) {
                let found = SchemaFile.declare(doc, path: path)
                problems += found
                // The text is recorded in the store (Deployment) for the people's commands.
                if found.isEmpty { schemaSources.append(SchemaSource(path: path, text: String(decoding: (try? FileBytes.read(path).get()) ?? [], as: UTF8.self))) }
            } else if top.contains(where: { $0.key == "rules" }) {
                ruleDocs.append((path, doc))
            }
        }
        for (path, doc) in ruleDocs {
            files.append(path)
            do throws(RuleError) {
                let f = try doc.fields("the rule file", allowed: ["scenario", "rules", "description"])
                guard let scenario = try f["scenario"]?.string("scenario") else { throw doc.error("missing `scenario:`") }
                for item in try f["rules"]!.items("rules") {
                    do throws(RuleError) {
                        let r = try RuleCompiler.compile(item, scenario: scenario)
                        if let other = ids[r.ref.id] {
                            throw item.error("rule \(r.ref.id): duplicate rule id (also in \(other))")
                        }
                        ids[r.ref.id] = "\(path):\(item.line ?? 0)"
                        rules.append(r)
                    } catch { problems.append(error) }
                }
            } catch { problems.append(error) }
        }
        if rules.count > Int(UInt16.max) {
            problems.append(RuleProblem(file: directory, line: nil, "\(rules.count) rules: at most \(UInt16.max) are supported"))
            rules.removeAll()
        }
        return RuleSet(compiled: rules, files: files, schemaSources: schemaSources)
    }
}
