import Foundation
import Model
import YAMLSupport

/// A rule file problem: file, line, rule id and what is wrong.
public typealias RuleError = YAMLFileError
public typealias RuleProblem = YAMLFileError

enum RuleKind: String, CaseIterable {
    case match, held, absence
    case notFollowed = "not_followed"
    case count, sum
    case distinctDays = "distinct_days"
    case sumBelow = "sum_below"
}

/// Which events a rule part listens to (nil types: every event of the rule's devices) and on which condition.
struct Trigger {
    var types: Set<EventType>? { didSet { typeMask = Self.mask(types) } }
    var when: Expr?
    /// `types` as bits by `EventType.ordinal` (all bits when nil): tested for every rule of every event.
    private(set) var typeMask: UInt64

    init(types: Set<EventType>?, when: Expr?) {
        self.types = types; self.when = when; self.typeMask = Self.mask(types)
    }

    func listens(to type: EventType) -> Bool { typeMask & (1 << UInt64(type.ordinal)) != 0 }

    private static func mask(_ types: Set<EventType>?) -> UInt64 {
        guard let types else { return .max }
        return types.reduce(0) { $0 | 1 << UInt64($1.ordinal) }
    }
}

/// A duration in the file (`30s`, `10m`, `12h`, `7d`) or from a device attribute (`{attr: max_minutes, unit: 1m, default: 240}`).
struct DurationSpec {
    var fixed: Millis?
    var attr: String?
    var unit: Millis = Durations.minute
    var fallback: Double?

    func resolve(_ device: Device) -> Millis? {
        if let fixed { return fixed }
        guard let attr else { return nil }
        let v = device.attrs[attr]?.double ?? fallback
        guard let v, v >= 0 else { return nil }
        return Millis((v * Double(unit)).rounded())
    }

    static func parse(_ s: String) -> Millis? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [(String, Millis)] = [("ms", 1), ("s", Durations.second), ("m", Durations.minute), ("min", Durations.minute),
                                         ("h", Durations.hour), ("d", Durations.day)]
        for (suffix, unit) in units.sorted(by: { $0.0.count > $1.0.count }) where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), n >= 0 else { return nil }
            return Millis((n * Double(unit)).rounded())
        }
        return nil
    }
}

enum KeySpec {
    case device, subject, data(String), deviceData(String)
}

/// One compiled rule. A class: the engine looks a rule up for every event, and a struct this size would be
/// copied (a dozen retains) each time.
final class Rule {
    var ref: RuleRef
    var file: String
    var line: Int?
    var key: KeySpec
    var deviceTypes: [String]?
    var kind: RuleKind
    var triggers: [Trigger]
    var clear: Trigger?
    var clearOtherwise = false
    var duration: DurationSpec?
    var followedBy: Trigger?
    var clearOnFollow = false
    var unless: (Trigger, Millis)?
    var threshold: Double = 0
    var value: Expr?
    var afterFirst: Millis?

    init(ref: RuleRef, file: String, line: Int?, key: KeySpec, deviceTypes: [String]?, kind: RuleKind, triggers: [Trigger]) {
        self.ref = ref; self.file = file; self.line = line; self.key = key; self.deviceTypes = deviceTypes
        self.kind = kind; self.triggers = triggers
    }

    /// Whether the rule has a clear condition (absence always clears on the next event).
    var clears: Bool { clear != nil || clearOtherwise || clearOnFollow || kind == .absence }
}

/// The rules loaded from every rule file under a folder.
public struct RuleSet: @unchecked Sendable {
    var compiled: [Rule]
    public var rules: [RuleRef] { compiled.map(\.ref) }
    public private(set) var files: [String]

    /// Loads every `*.yaml`/`*.yml` under `directory` (recursively, in path order) with a top-level `rules` key.
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
            return RuleSet(compiled: [], files: [])
        }
        let paths = (FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
        var rules: [Rule] = []
        var files: [String] = []
        var ids: [String: String] = [:]
        for path in paths {
            let doc: YAMLValue
            do { doc = try YAMLValue.load(path: path, what: "rule") } catch { problems.append(error); continue }
            guard let top = try? doc.entries("rule file"), top.contains(where: { $0.key == "rules" }) else { continue }
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
        return RuleSet(compiled: rules, files: files)
    }
}

/// YAML → Rule, with errors naming the file, line and rule id.
enum RuleCompiler {
    static let allowed: Set<String> = ["id", "severity", "key", "devices", "kind", "on", "when", "any", "for", "within",
                                       "clear", "followed_by", "at_least", "below", "value", "unless", "after_first", "description"]

    static func compile(_ v: YAMLValue, scenario: String) throws(RuleError) -> Rule {
        let idText = (try? v.entries("rule"))?.first { $0.key == "id" }.flatMap { try? $0.value.string("rule id") }
        let f0 = try v.fields(idText.map { "rule \($0)" } ?? "rule", allowed: allowed)
        guard let idNode = f0["id"] else { throw v.error("a rule without `id`") }
        let id = try idNode.string("rule id")
        func err(_ m: String, _ at: YAMLValue? = nil) -> RuleError { (at ?? v).error("rule \(id): \(m)") }
        let f = f0
        guard let sevText = try f["severity"]?.string("severity"), let severity = Severity(rawValue: sevText) else {
            throw err("`severity` must be critical, major or minor")
        }
        guard let kindText = try f["kind"]?.string("kind"), let kind = RuleKind(rawValue: kindText) else {
            throw err("`kind` must be one of \(RuleKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let keyText = try f["key"]?.string("key") ?? "device"
        let key: KeySpec
        switch keyText {
        case "device": key = .device
        case "subject": key = .subject
        case _ where keyText.hasPrefix("device+data."): key = .deviceData(String(keyText.dropFirst("device+data.".count)))
        case _ where keyText.hasPrefix("data."): key = .data(String(keyText.dropFirst(5)))
        default: throw err("`key` must be device, subject, data.FIELD or device+data.FIELD, got \(keyText)", f["key"])
        }
        func expr(_ node: YAMLValue?) throws(RuleError) -> Expr? {
            guard let node else { return nil }
            let text: String
            if case .bool(let b)? = node.scalar { text = b ? "true" : "false" } else { text = try node.string("expression") }
            do { return try ExprParser.compile(text) } catch {
                throw err("bad expression `\(text)`: \(error)", node)
            }
        }
        func types(_ node: YAMLValue?) throws(RuleError) -> Set<EventType>? {
            guard let node else { return nil }
            let names = try node.strings("on")
            if names == ["any"] { return nil }
            var out = Set<EventType>()
            for n in names {
                guard let t = EventType.named(n) else { throw err("unknown event type \(n) in `on`", node) }
                out.insert(t)
            }
            return out
        }
        func trigger(_ node: YAMLValue) throws(RuleError) -> Trigger {
            if case .scalar = node.node { return Trigger(types: nil, when: try expr(node)) }
            let t = try node.fields("rule \(id) trigger", allowed: ["on", "when", "within"])
            return Trigger(types: try types(t["on"]), when: try expr(t["when"]))
        }
        func duration(_ node: YAMLValue?, _ name: String) throws(RuleError) -> DurationSpec? {
            guard let node else { return nil }
            if case .scalar = node.node {
                let s = try node.string(name)
                guard let d = DurationSpec.parse(s) else { throw err("`\(name)`: bad duration \(s) (use 30s, 10m, 12h, 7d)", node) }
                return DurationSpec(fixed: d)
            }
            let m = try node.fields("rule \(id) \(name)", allowed: ["attr", "unit", "default"])
            guard let attr = try m["attr"]?.string("attr") else { throw err("`\(name)` needs `attr` or a duration", node) }
            var spec = DurationSpec(attr: attr)
            if let u = m["unit"] {
                guard let d = DurationSpec.parse(try u.string("unit")) else { throw err("`\(name).unit`: bad duration", u) }
                spec.unit = d
            }
            spec.fallback = try m["default"]?.double("default")
            return spec
        }

        let rule = Rule(ref: RuleRef(id: id, scenario: scenario, severity: severity), file: v.file, line: v.line,
                        key: key, deviceTypes: nil, kind: kind, triggers: [])
        if let d = f["devices"] { rule.deviceTypes = try d.strings("devices") }
        if let any = f["any"] {
            for item in try any.items("any") { rule.triggers.append(try trigger(item)) }
        } else {
            rule.triggers = [Trigger(types: try types(f["on"]), when: try expr(f["when"]))]
        }
        if let c = f["clear"] {
            if case .scalar = c.node, try c.string("clear") == "otherwise" {
                rule.clearOtherwise = true
            } else if case .scalar = c.node, try c.string("clear") == "followed_by" {
                rule.clearOnFollow = true
            } else {
                var t = try trigger(c)
                if t.types == nil && rule.triggers.count == 1 { t.types = rule.triggers[0].types }
                rule.clear = t
            }
        }
        switch kind {
        case .held, .absence:
            guard let d = try duration(f["for"], "for") else { throw err("kind \(kind.rawValue) needs `for:` (a duration)") }
            rule.duration = d
        case .notFollowed:
            guard let d = try duration(f["within"], "within") else { throw err("kind not_followed needs `within:`") }
            guard let fb = f["followed_by"] else { throw err("kind not_followed needs `followed_by: {on, when}`") }
            rule.duration = d
            rule.followedBy = try trigger(fb)
        case .count, .sum, .distinctDays:
            guard let d = try duration(f["within"], "within") else { throw err("kind \(kind.rawValue) needs `within:`") }
            guard let n = try f["at_least"]?.double("at_least") else { throw err("kind \(kind.rawValue) needs `at_least:`") }
            rule.duration = d
            rule.threshold = n
            if kind == .sum {
                guard let e = try expr(f["value"]) else { throw err("kind sum needs `value:` (e.g. data.elderly)") }
                rule.value = e
            }
        case .sumBelow:
            guard let d = try duration(f["within"], "within") else { throw err("kind sum_below needs `within:`") }
            guard let n = try f["below"]?.double("below") else { throw err("kind sum_below needs `below:`") }
            guard let e = try expr(f["value"]) else { throw err("kind sum_below needs `value:`") }
            rule.duration = d
            rule.threshold = n
            rule.value = e
            rule.afterFirst = try duration(f["after_first"], "after_first")?.fixed ?? d.fixed
        case .match:
            break
        }
        if let u = f["unless"] {
            let m = try u.fields("rule \(id) unless", allowed: ["on", "when", "within"])
            guard let w = try duration(m["within"], "unless.within")?.fixed else { throw err("`unless` needs `within:`", u) }
            rule.unless = (Trigger(types: try types(m["on"]), when: try expr(m["when"])), w)
        }
        if rule.duration?.fixed == nil && rule.duration?.attr == nil && kind != .match {
            throw err("a duration is needed")
        }
        return rule
    }
}
