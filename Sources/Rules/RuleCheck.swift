import Model

/// Static checks of compiled rules against the schema (`EventSchema`, `DeviceSchema`, and a registry's own
/// attributes when one is given): what a rule reads that its events or devices never carry, and comparisons
/// whose sides can never be equal or ordered. Each such rule would load fine and then never fire.
public enum RuleCheck {
    /// Every problem, in rule order, each with the rule's file:line and id.
    public static func problems(in set: RuleSet, registry: Registry? = nil) -> [RuleProblem] {
        var out: [RuleProblem] = []
        for rule in set.compiled {
            var seen = Set<String>()
            var review = RuleReview(rule: rule, registry: registry)
            for message in review.messages() where seen.insert(message).inserted {
                out.append(RuleProblem(file: rule.file, line: rule.line, "rule \(rule.ref.id): \(message)"))
            }
        }
        return out
    }
}

/// The static type of an expression, as far as the schema tells.
enum StaticType: Equatable, CustomStringConvertible {
    case number, text, bool, null, list
    /// A text field with a fixed set of values (`oneOf`).
    case choice([String])

    var description: String {
        switch self {
        case .number: "a number"
        case .text: "text"
        case .bool: "true/false"
        case .null: "null"
        case .list: "a list"
        case .choice(let values): "one of " + values.joined(separator: "|")
        }
    }

    /// Same kind of value (a choice is text).
    func matches(_ other: StaticType) -> Bool { family == other.family }
    private var family: Int {
        switch self {
        case .number: 0
        case .text, .choice: 1
        case .bool: 2
        case .null: 3
        case .list: 4
        }
    }

    init?(_ v: Value) {
        switch v {
        case .number: self = .number
        case .string: self = .text
        case .bool: self = .bool
        case .null: self = .null
        case .list: self = .list
        case .missing: return nil
        }
    }

    init(_ k: FieldKind) {
        switch k {
        case .int, .number: self = .number
        case .bool: self = .bool
        case .string, .stringOrNull: self = .text
        case .oneOf(let values): self = .choice(values)
        }
    }

    init(_ k: AttrKind) {
        switch k {
        case .int, .number: self = .number
        case .bool: self = .bool
        case .string, .timeRange: self = .text
        case .strings: self = .list
        }
    }
}

/// One rule's review: which event types and device types each of its expressions sees.
struct RuleReview {
    let rule: Rule
    let registry: Registry?
    private var out: [String] = []

    init(rule: Rule, registry: Registry?) { self.rule = rule; self.registry = registry }

    mutating func messages() -> [String] {
        let whole = rule.listenedTypes
        for (types, expr) in rule.expressions { walk(expr.syntax, types: types) }
        switch rule.key {
        case .data(let f), .deviceData(let f): _ = type(of: .data(f), types: whole)
        case .device, .subject: break
        }
        if case .attr(let attr, _, _)? = rule.duration { _ = type(of: .attrs(attr), types: nil) }
        return out
    }

    /// The listened types in a stable order; all of them when a part listens to every event.
    func eventTypes(_ types: Set<EventType>?) -> [EventType] {
        types.map { t in EventType.allCases.filter { t.contains($0) } } ?? EventType.allCases
    }

    var deviceTypes: [String] { rule.deviceTypes ?? DeviceSchema.deviceTypes }

    private mutating func walk(_ s: ExprSyntax, types: Set<EventType>?) {
        if case .compare(let op, let a, let b) = s { compare(op, a, b, types: types) }
        _ = type(of: s, types: types)
        for c in s.children { walk(c, types: types) }
    }

    /// The type of `s`, reporting a field or attribute that none of the types in scope has.
    private mutating func type(of s: ExprSyntax, types: Set<EventType>?) -> StaticType? {
        switch s {
        case .literal(let v): return StaticType(v)
        case .builtin(let name): return name == "local_time" || name == "weekday" ? .number : .text
        case .arithmetic: return .number
        case .logic, .compare: return .bool
        case .list: return .list
        case .data(let field):
            let listened = eventTypes(types)
            let specs = listened.compactMap { t in EventSchema.fields(of: t).first { $0.name == field } }
            guard let first = specs.first else {
                let known = Set(listened.flatMap { EventSchema.fields(of: $0).map(\.name) }).sorted()
                let which = types == nil ? "no event type carries" : listened.map(\.rawValue).joined(separator: ", ") + " does not carry"
                out.append("reads data.\(field), which \(which) (known fields: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
                return nil
            }
            let kinds = specs.map { StaticType($0.kind) }
            return kinds.allSatisfy { $0.matches(kinds[0]) } ? StaticType(first.kind) : nil
        case .attrs(let name):
            let specs = deviceTypes.compactMap { DeviceSchema.attr(name, of: $0) }
            if let first = specs.first { return StaticType(first.kind) }
            let seen = registeredAttrs()
            if let v = seen[name] { return StaticType(Value(v)) }
            let known = Set(deviceTypes.flatMap { DeviceSchema.attrs(of: $0).map(\.name) }).union(seen.keys).sorted()
            let which = rule.deviceTypes.map { "device type " + $0.joined(separator: ", ") + " does not have" } ?? "no device type has"
            out.append("reads attrs.\(name), which \(which) (known attrs: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            return nil
        }
    }

    /// Attributes the registry gives devices of the rule's types, beyond the schema (a deployment's own).
    private func registeredAttrs() -> [String: JSONValue] {
        guard let registry else { return [:] }
        let types = Set(deviceTypes)
        var out: [String: JSONValue] = [:]
        for d in registry.catalog.devices where types.contains(d.type) {
            for f in d.attrs.fields where out[f.key] == nil { out[f.key] = f.value }
        }
        return out
    }

    private mutating func compare(_ op: String, _ a: ExprSyntax, _ b: ExprSyntax, types: Set<EventType>?) {
        var scratch = self
        scratch.out = []
        guard let ta = scratch.type(of: a, types: types), let tb = scratch.type(of: b, types: types) else { return }
        let never = "`\(text(a)) \(op) \(text(b))` compares \(text(a)) (\(ta)) with \(text(b)) (\(tb)): never true"
        switch op {
        case "==", "!=":
            if ta == .null || tb == .null { return }
            if !ta.matches(tb) { out.append(never); return }
            if case .choice(let values) = ta, case .literal(.string(let s)) = b, !values.contains(s) {
                out.append("`\(text(a)) \(op) \(text(b))`: \(text(a)) is \(ta), never '\(s)'")
            }
            if case .choice(let values) = tb, case .literal(.string(let s)) = a, !values.contains(s) {
                out.append("`\(text(a)) \(op) \(text(b))`: \(text(b)) is \(tb), never '\(s)'")
            }
        case "in":
            switch (tb, b) {
            case (.list, .list(let items)):
                for item in items {
                    guard let ti = scratch.type(of: item, types: types), ti != .null, !ti.matches(ta) else { continue }
                    out.append("`\(text(a)) in [...]` looks for \(text(a)) (\(ta)) among \(text(item)) (\(ti)): never found")
                }
            case (.list, _): break
            case (.text, .literal(.string(let s))) where TimeRange(s) == nil:
                out.append("`\(text(a)) in '\(s)'`: '\(s)' is not a time range HH:MM-HH:MM")
            case (.text, _) where ta != .number:
                out.append("`\(text(a)) in \(text(b))` tests a time of day, but \(text(a)) is \(ta) (use local_time)")
            case (.text, _): break
            default: out.append("`\(text(a)) in \(text(b))`: \(text(b)) is \(tb), not a list or a time range")
            }
        default:
            if ta != .number || tb != .number { out.append(never) }
        }
    }

    private func text(_ s: ExprSyntax) -> String {
        switch s {
        case .literal(.string(let v)): return "'\(v)'"
        case .literal(.number(let d)): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .literal(.bool(let b)): return String(b)
        case .literal(.null): return "null"
        case .literal: return "a list"
        case .data(let f): return "data.\(f)"
        case .attrs(let f): return "attrs.\(f)"
        case .builtin(let name): return name
        case .arithmetic: return "a calculation"
        case .logic, .compare: return "a condition"
        case .list: return "a list"
        }
    }
}
