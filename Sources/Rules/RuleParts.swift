import Model

extension Rule {
    /// The event types any part of the rule listens to; nil when one part listens to every event.
    var listenedTypes: Set<EventType>? {
        triggers.contains { $0.types == nil } ? nil : triggers.reduce(into: Set<EventType>()) { $0.formUnion($1.types ?? []) }
    }

    /// Every expression of the rule, with the event types it is evaluated on (nil: every event of the rule).
    var expressions: [(types: Set<EventType>?, expr: Expr)] {
        var parts: [(Set<EventType>?, Expr?)] = triggers.map { ($0.types, $0.when) }
        if case .when(let c)? = clear { parts.append((c.types, c.when)) }
        switch kind {
        case .match(let unless): if let u = unless { parts.append((u.trigger.types, u.trigger.when)) }
        case .held, .absence, .count, .distinctDays: break
        case .notFollowed(_, let followedBy, _): parts.append((followedBy.types, followedBy.when))
        case .sum(_, _, let value), .sumBelow(_, _, let value, _): parts.append((listenedTypes, value))
        }
        return parts.compactMap { types, expr in expr.map { (types, $0) } }
    }

    /// The rule's window or hold, when it has one.
    var duration: DurationSpec? {
        switch kind {
        case .match, .sumBelow: nil
        case .held(let d), .absence(let d), .count(let d, _), .distinctDays(let d, _), .notFollowed(let d, _, _), .sum(let d, _, _): d
        }
    }

    /// The device attributes the rule cannot be evaluated without: those its expressions read, and a duration's
    /// attribute when it has no default.
    var attrsNeeded: [String] {
        var out = Set<String>()
        func walk(_ s: ExprSyntax) {
            if case .attrs(let name) = s { out.insert(name) }
            s.children.forEach(walk)
        }
        for (_, e) in expressions { walk(e.syntax) }
        if case .attr(let name, _, nil)? = duration { out.insert(name) }
        return out.sorted()
    }
}
