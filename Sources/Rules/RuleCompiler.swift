import Model
import YAMLSupport

/// YAML → Rule, with errors naming the file, line and rule id.
enum RuleCompiler {
    static let allowed: Set<String> = ["id", "severity", "key", "devices", "kind", "on", "when", "any", "for", "within",
                                       "clear", "followed_by", "at_least", "below", "value", "unless", "after_first", "description"]

    static func compile(_ v: YAMLValue, scenario: String) throws(RuleError) -> Rule {
        let idText = (try? v.entries("rule"))?.first { $0.key == "id" }.flatMap { try? $0.value.string("rule id") }
        let f = try v.fields(idText.map { "rule \($0)" } ?? "rule", allowed: allowed)
        guard let idNode = f["id"] else { throw v.error("a rule without `id`") }
        let p = Parts(rule: v, id: try idNode.string("rule id"))
        guard let sevText = try f["severity"]?.string("severity"), let severity = Severity(rawValue: sevText) else {
            throw p.err("`severity` must be critical, major or minor")
        }
        guard let kindText = try f["kind"]?.string("kind"), let kindName = RuleKind.Name(rawValue: kindText) else {
            throw p.err("`kind` must be one of \(RuleKind.Name.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let keyText = try f["key"]?.string("key") ?? "device"
        let key: KeySpec
        switch keyText {
        case "device": key = .device
        case "subject": key = .subject
        case _ where keyText.hasPrefix("device+data."): key = .deviceData(String(keyText.dropFirst("device+data.".count)))
        case _ where keyText.hasPrefix("data."): key = .data(String(keyText.dropFirst(5)))
        default: throw p.err("`key` must be device, subject, data.FIELD or device+data.FIELD, got \(keyText)", f["key"])
        }

        var triggers: [Trigger]
        if let any = f["any"] {
            triggers = []
            for item in try any.items("any") { triggers.append(try p.trigger(item)) }
        } else {
            triggers = [Trigger(types: try p.types(f["on"]), when: try p.expr(f["when"]))]
        }
        var clear: ClearCondition?
        var clearOnFollow = false
        if let c = f["clear"] {
            if case .scalar = c.node, try c.string("clear") == "otherwise" {
                clear = .otherwise
            } else if case .scalar = c.node, try c.string("clear") == "followed_by" {
                guard kindName == .notFollowed else { throw p.err("`clear: followed_by` is only for kind not_followed", c) }
                clearOnFollow = true
            } else {
                var t = try p.trigger(c)
                if t.types == nil && triggers.count == 1 { t.types = triggers[0].types }
                clear = .when(t)
            }
        }
        if let u = f["unless"], kindName != .match {
            throw p.err("`unless` is only for kind match", u)
        }
        let kind = try compileKind(kindName, f, p, clearOnFollow: clearOnFollow)
        return Rule(ref: RuleRef(id: p.id, scenario: scenario, severity: severity), file: v.file, line: v.line, key: key,
                    deviceTypes: try f["devices"]?.strings("devices"), kind: kind, triggers: triggers, clear: clear)
    }

    /// The kind with the fields it needs, each required one present.
    private static func compileKind(_ name: RuleKind.Name, _ f: [String: YAMLValue], _ p: Parts,
                                    clearOnFollow: Bool) throws(RuleError) -> RuleKind {
        func within() throws(RuleError) -> DurationSpec {
            guard let d = try p.duration(f["within"], "within") else { throw p.err("kind \(name.rawValue) needs `within:`") }
            return d
        }
        func atLeast() throws(RuleError) -> Double {
            guard let n = try f["at_least"]?.double("at_least") else { throw p.err("kind \(name.rawValue) needs `at_least:`") }
            return n
        }
        switch name {
        case .match:
            guard let u = f["unless"] else { return .match(unless: nil) }
            let m = try u.fields("rule \(p.id) unless", allowed: ["on", "when", "within"])
            guard let w = try p.duration(m["within"], "unless.within")?.fixed else { throw p.err("`unless` needs `within:`", u) }
            return .match(unless: Unless(trigger: Trigger(types: try p.types(m["on"]), when: try p.expr(m["when"])), within: w))
        case .held, .absence:
            guard let d = try p.duration(f["for"], "for") else { throw p.err("kind \(name.rawValue) needs `for:` (a duration)") }
            return name == .held ? .held(for: d) : .absence(for: d)
        case .notFollowed:
            let d = try within()
            guard let fb = f["followed_by"] else { throw p.err("kind not_followed needs `followed_by: {on, when}`") }
            return .notFollowed(within: d, followedBy: try p.trigger(fb), clearOnFollow: clearOnFollow)
        case .count:
            return .count(within: try within(), atLeast: try atLeast())
        case .distinctDays:
            return .distinctDays(within: try within(), atLeast: try atLeast())
        case .sum:
            let (d, n) = (try within(), try atLeast())
            guard let e = try p.expr(f["value"]) else { throw p.err("kind sum needs `value:` (e.g. data.elderly)") }
            return .sum(within: d, atLeast: n, value: e)
        case .sumBelow:
            // Evaluated at timers as well as at events, so its window cannot depend on the device.
            guard let w = try p.duration(f["within"], "within")?.fixed else {
                throw p.err("kind sum_below needs `within:` (a duration such as 24h, not an attribute)")
            }
            guard let n = try f["below"]?.double("below") else { throw p.err("kind sum_below needs `below:`") }
            guard let e = try p.expr(f["value"]) else { throw p.err("kind sum_below needs `value:`") }
            var afterFirst = w
            if let a = try p.duration(f["after_first"], "after_first") {
                guard let fixed = a.fixed else { throw p.err("`after_first` must be a duration such as 12h, not an attribute") }
                afterFirst = fixed
            }
            return .sumBelow(within: w, below: n, value: e, afterFirst: afterFirst)
        }
    }

    /// The parts of one rule's YAML: expressions, event types, triggers and durations, with errors naming the rule.
    private struct Parts {
        let rule: YAMLValue
        let id: String

        func err(_ m: String, _ at: YAMLValue? = nil) -> RuleError { (at ?? rule).error("rule \(id): \(m)") }

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
                return .fixed(d)
            }
            let m = try node.fields("rule \(id) \(name)", allowed: ["attr", "unit", "default"])
            guard let attr = try m["attr"]?.string("attr") else { throw err("`\(name)` needs `attr` or a duration", node) }
            var unit = Durations.minute
            if let u = m["unit"] {
                guard let d = DurationSpec.parse(try u.string("unit")) else { throw err("`\(name).unit`: bad duration", u) }
                unit = d
            }
            return .attr(attr, unit: unit, fallback: try m["default"]?.double("default"))
        }
    }
}
