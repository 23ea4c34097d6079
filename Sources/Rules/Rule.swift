import Foundation
import Model

/// What a rule does with the events it hears: each kind carries exactly what it needs (docs/contract.md §8).
enum RuleKind {
    /// Every raising event is an occurrence, unless the `unless` trigger held within its window before it.
    case match(unless: Unless?)
    /// The condition held for the duration, with no event in between saying otherwise.
    case held(for: DurationSpec)
    /// No raising event for the duration since the latest one.
    case absence(for: DurationSpec)
    /// A raising event not followed by a `followedBy` one within the duration; `clearOnFollow`: the follow-up
    /// clears an occurrence (`clear: followed_by`).
    case notFollowed(within: DurationSpec, followedBy: Trigger, clearOnFollow: Bool)
    /// At least `atLeast` raising events within the window.
    case count(within: DurationSpec, atLeast: Double)
    /// The raising events' `value` adds up to at least `atLeast` within the window.
    case sum(within: DurationSpec, atLeast: Double, value: Expr)
    /// Raising events on at least `atLeast` distinct local days within the window.
    case distinctDays(within: DurationSpec, atLeast: Double)
    /// After `afterFirst` since the key's first event, the readings' `value` within the window adds up to less
    /// than `below`.
    case sumBelow(within: Millis, below: Double, value: Expr, afterFirst: Millis)

    /// The names of the rule file's `kind:`.
    enum Name: String, CaseIterable {
        case match, held, absence
        case notFollowed = "not_followed"
        case count, sum
        case distinctDays = "distinct_days"
        case sumBelow = "sum_below"
    }
}

/// A match rule's exception: an `on`/`when` event within `within` before the raising one.
struct Unless {
    var trigger: Trigger
    var within: Millis
}

/// When an open occurrence clears: on a matching event, or on any event of the rule that does not raise it.
enum ClearCondition {
    case when(Trigger)
    case otherwise
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

    /// true/false when the trigger listens to this event type and its condition could be evaluated; nil otherwise.
    func test(_ c: EvalContext) -> Bool? {
        if !listens(to: c.event.type) { return nil }
        guard let when else { return true }
        return when.test(c)
    }

    private static func mask(_ types: Set<EventType>?) -> UInt64 {
        guard let types else { return .max }
        return types.reduce(0) { $0 | 1 << UInt64($1.ordinal) }
    }
}

/// A duration in the file (`30s`, `10m`, `12h`, `7d`) or from a device attribute (`{attr: max_minutes, unit: 1m, default: 240}`).
enum DurationSpec {
    case fixed(Millis)
    case attr(String, unit: Millis, fallback: Double?)

    var fixed: Millis? {
        if case .fixed(let d) = self { return d }
        return nil
    }

    func resolve(_ device: Device) -> Millis? {
        switch self {
        case .fixed(let d): return d
        case .attr(let attr, let unit, let fallback):
            guard let v = device.attrs[attr]?.double ?? fallback, v >= 0 else { return nil }
            return Millis((v * Double(unit)).rounded())
        }
    }

    static func parse(_ s: String) -> Millis? { Durations.parse(s) }
}

/// What a rule's key is: the device, its subject, or a data field of the event (alone or with the device).
enum KeySpec {
    case device, subject, data(String), deviceData(String)

    /// The key of an event (nil when the field is missing or not a scalar).
    func text(in c: EvalContext) -> String? {
        switch self {
        case .device: return c.event.device
        case .subject: return c.device.subject
        case .data(let f): return Self.text(c.event.data[f])
        case .deviceData(let f): return Self.text(c.event.data[f]).map { "\(c.event.device)/\($0)" }
        }
    }

    static func text(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .number(let d)?: return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b)?: return String(b)
        default: return nil
        }
    }
}

/// One compiled rule. A class: the engine looks a rule up for every event, and a struct this size would be
/// copied (a dozen retains) each time.
final class Rule {
    let ref: RuleRef
    let file: String
    let line: Int?
    let key: KeySpec
    let deviceTypes: [String]?
    let kind: RuleKind
    /// Any of them raises the rule.
    let triggers: [Trigger]
    let clear: ClearCondition?
    /// Whether an occurrence can clear: only then is it kept open (absence always clears on the next event).
    let clears: Bool
    /// A match rule with `unless` records the `unless` events of keys that have no state yet.
    let recordsUnless: Bool

    init(ref: RuleRef, file: String, line: Int?, key: KeySpec, deviceTypes: [String]?, kind: RuleKind,
         triggers: [Trigger], clear: ClearCondition?) {
        self.ref = ref; self.file = file; self.line = line; self.key = key; self.deviceTypes = deviceTypes
        self.kind = kind; self.triggers = triggers; self.clear = clear
        switch kind {
        case .absence: clears = true
        case .notFollowed(_, _, let clearOnFollow): clears = clear != nil || clearOnFollow
        default: clears = clear != nil
        }
        if case .match(_?) = kind { recordsUnless = true } else { recordsUnless = false }
    }

    /// For each condition the rule listens on, the device attributes without which it is never true
    /// (`ExprSyntax.attrsRequired`): a device with none of these sets complete can neither raise the rule nor change
    /// its state. nil when that cannot be said: a condition needs no attr (or there is none), the kind keeps state
    /// from events whose condition does not hold (held, absence, not_followed, sum_below, match with `unless`), or
    /// `clear: otherwise` clears on them.
    var attrsToMatter: [Set<String>]? {
        switch kind {
        case .match(unless: nil), .count, .sum, .distinctDays: break
        default: return nil
        }
        if case .otherwise? = clear { return nil }
        var out: [Set<String>] = []
        for t in listeners {
            guard let required = t.when?.syntax.attrsRequired, !required.isEmpty else { return nil }
            out.append(required)
        }
        return out.isEmpty ? nil : out
    }

    /// Every trigger of the rule: what raises it, clears it, follows it up or excuses it.
    var listeners: [Trigger] {
        var all = triggers
        if case .when(let c)? = clear { all.append(c) }
        switch kind {
        case .notFollowed(_, let followedBy, _): all.append(followedBy)
        case .match(let unless?): all.append(unless.trigger)
        default: break
        }
        return all
    }

    /// true when a trigger raises the rule for this event, false when one listens and its condition is false,
    /// nil when none applies.
    @inline(__always) func raises(_ c: EvalContext) -> Bool? {
        var raise: Bool? = nil
        for i in triggers.indices {
            switch triggers[i].test(c) {
            case true?: return true
            case false?: raise = false
            case nil: break
            }
        }
        return raise
    }

    /// Whether the clear condition holds for an event that raised (`raise`) or not.
    func clearHolds(_ c: EvalContext, raise: Bool?) -> Bool {
        switch clear {
        case .otherwise?: return raise == false
        case .when(let t)?: return t.test(c) == true
        case nil: return false
        }
    }
}
