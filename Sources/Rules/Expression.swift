import Foundation
import Model

/// A value while evaluating a rule expression. `missing` (a data field the event does not carry) is absorbing:
/// a predicate that touches it is "not applicable" to the event, neither raising nor clearing.
enum Value: Equatable {
    case number(Double), string(String), bool(Bool), null, list([Value]), missing

    init(_ j: JSONValue?) {
        switch j {
        case nil: self = .missing
        case .null?: self = .null
        case .bool(let b)?: self = .bool(b)
        case .number(let d)?: self = .number(d)
        case .string(let s)?: self = .string(s)
        case .array(let a)?: self = .list(a.map { Value($0) })
        case .object?: self = .missing
        }
    }
}

/// What an expression can read: the event, its device, and local time in the device's community.
/// The device's own parts (its registry entry, its clock) are reached only when a rule reads them: with events
/// from thousands of devices they are rarely in cache.
struct EvalContext {
    /// The event, borrowed for the evaluation (`RuleEngine.ingest` holds it): a copy would retain each of its
    /// Strings for every event.
    let eventPointer: UnsafePointer<Event>
    var event: Event { _read { yield eventPointer.pointee } }
    /// The device's index in the catalog, and its subject's number.
    let deviceRef: Int32
    let subjectRef: Int32
    let catalog: DeviceCatalog
    var device: Device { _read { yield catalog[DeviceRef(unchecked: deviceRef)] } }
    var clock: LocalClock { catalog.clock(of: DeviceRef(unchecked: deviceRef)) }
    func localTime() -> LocalTime { clock.local(event.ts) }
}

/// A compiled expression.
struct Expr {
    let eval: (EvalContext) -> Value
    /// The value, when it does not depend on the event (a literal, a list of literals): known when compiled.
    var constant: Value? = nil
    /// What it reads and compares (for `rules check`), and how deep its tree is (bounded by the parser).
    let syntax: ExprSyntax
    let height: Int

    init(_ syntax: ExprSyntax, _ parts: [Expr] = [], _ eval: @escaping (EvalContext) -> Value) {
        self.eval = eval; self.syntax = syntax; self.height = 1 + (parts.map(\.height).max() ?? 0)
    }

    static func literal(_ v: Value) -> Expr {
        var e = Expr(.literal(v)) { _ in v }
        e.constant = v
        return e
    }

    /// true / false, or nil when not applicable (a field it needs is missing, or it is not a boolean).
    func test(_ c: EvalContext) -> Bool? {
        if case .bool(let b) = eval(c) { return b }
        return nil
    }
}

struct ExprError: Error, CustomStringConvertible {
    var message: String
    var position: Int
    var description: String { "\(message) at character \(position + 1)" }
}

/// Parses the rule expression language:
///   or: and ('or'|'||' and)* · and: not ('and'|'&&' not)* · not: ('not'|'!') not | cmp
///   cmp: sum (('=='|'!='|'<'|'<='|'>'|'>='|'in') sum)? · sum: product (('+'|'-') product)*
///   product: unary (('*'|'/') unary)* · unary: '-' unary | primary
///   primary: number | "string" | 'string' | true | false | null | [list] | (expr)
///          | data.FIELD | attrs.NAME | device.type | device.id | local_time | weekday
/// `local_time in "07:00-09:00"` tests local time of day in [start, end) (wrapping midnight when end < start);
/// `weekday` is 1 (Monday) … 7 (Sunday); `x in [..]` tests membership; comparisons with `null` treat a
/// missing field as null.
struct ExprParser {
    enum Token: Equatable { case num(Double), str(String), ident(String), op(String), end }
    var tokens: [(Token, Int)] = []
    var k = 0
    let source: String
    /// Nesting (parentheses, lists, `not`, unary `-`) and operator chains deeper than this are refused: the
    /// parser, evaluation and release all recurse once per level, and 10,000 levels overflow the stack.
    static let maxDepth = 64
    private var depth = 0

    /// Enters one level of recursion; an error past `maxDepth`.
    mutating func descend() throws {
        depth += 1
        guard depth <= Self.maxDepth else {
            throw error("expression nested too deeply: more than \(Self.maxDepth) levels of parentheses, lists, `not` or `-`")
        }
    }

    /// An operator node over `parts`; an error when the tree gets deeper than `maxDepth` (a very long chain).
    func node(_ syntax: ExprSyntax, _ parts: [Expr], _ eval: @escaping (EvalContext) -> Value) throws -> Expr {
        let e = Expr(syntax, parts, eval)
        guard e.height <= Self.maxDepth else {
            throw error("expression too deep: more than \(Self.maxDepth) levels of operators; split it or use `in [...]`")
        }
        return e
    }

    static func compile(_ text: String) throws -> Expr {
        var p = ExprParser(source: text)
        try p.lex()
        let e = try p.or()
        guard case .end = p.tokens[p.k].0 else { throw ExprError(message: "unexpected \(p.describe(p.tokens[p.k].0))", position: p.tokens[p.k].1) }
        return e
    }

    init(source: String) { self.source = source }

    func describe(_ t: Token) -> String {
        switch t {
        case .num(let d): return "number \(d)"
        case .str(let s): return "string \"\(s)\""
        case .ident(let s): return "`\(s)`"
        case .op(let s): return "`\(s)`"
        case .end: return "end of expression"
        }
    }

    mutating func lex() throws {
        let chars = Array(source.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" { i += 1; continue }
            let start = i
            if c.properties.isAlphabetic || c == "_" {
                var s = ""
                while i < chars.count, chars[i].properties.isAlphabetic || chars[i] == "_" || chars[i] == "." || ("0"..."9").contains(chars[i]) {
                    s.unicodeScalars.append(chars[i]); i += 1
                }
                tokens.append((.ident(s), start))
            } else if ("0"..."9").contains(c) {
                var s = ""
                while i < chars.count, ("0"..."9").contains(chars[i]) || chars[i] == "." { s.unicodeScalars.append(chars[i]); i += 1 }
                guard let d = Double(s) else { throw ExprError(message: "bad number \(s)", position: start) }
                tokens.append((.num(d), start))
            } else if c == "\"" || c == "'" {
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c { s.unicodeScalars.append(chars[i]); i += 1 }
                guard i < chars.count else { throw ExprError(message: "unterminated string", position: start) }
                i += 1
                tokens.append((.str(s), start))
            } else {
                let two = i + 1 < chars.count ? String(c) + String(chars[i + 1]) : ""
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                    tokens.append((.op(two), start)); i += 2
                } else if "<>!+-*/()[],".unicodeScalars.contains(c) {
                    tokens.append((.op(String(c)), start)); i += 1
                } else {
                    throw ExprError(message: "unexpected character '\(c)'", position: start)
                }
            }
        }
        tokens.append((.end, chars.count))
    }

    var peek: Token { tokens[k].0 }
    mutating func accept(_ ops: String...) -> String? {
        switch peek {
        case .op(let o) where ops.contains(o): k += 1; return o
        case .ident(let w) where ops.contains(w): k += 1; return w
        default: return nil
        }
    }
    func error(_ m: String) -> ExprError { ExprError(message: m, position: tokens[k].1) }

    mutating func or() throws -> Expr {
        try descend()
        defer { depth -= 1 }
        var l = try and()
        while accept("or", "||") != nil {
            let a = l, b = try and()
            l = try node(.logic("or", [a.syntax, b.syntax]), [a, b]) { c in
                let x = a.eval(c)
                if case .bool(true) = x { return x }
                let y = b.eval(c)
                if case .bool(true) = y { return y }
                if x == .missing || y == .missing { return .missing }
                return .bool(false)
            }
        }
        return l
    }

    mutating func and() throws -> Expr {
        var l = try not()
        while accept("and", "&&") != nil {
            let a = l, b = try not()
            l = try node(.logic("and", [a.syntax, b.syntax]), [a, b]) { c in
                let x = a.eval(c)
                if case .bool(false) = x { return x }
                let y = b.eval(c)
                if case .bool(false) = y { return y }
                if x == .missing || y == .missing { return .missing }
                if case .bool = x, case .bool = y { return .bool(true) }
                return .missing
            }
        }
        return l
    }

    mutating func not() throws -> Expr {
        if accept("not", "!") != nil {
            try descend()
            defer { depth -= 1 }
            let e = try not()
            return try node(.logic("not", [e.syntax]), [e]) { c in if case .bool(let b) = e.eval(c) { return .bool(!b) }; return .missing }
        }
        return try comparison()
    }

    mutating func comparison() throws -> Expr {
        let l = try sum()
        guard let op = accept("==", "!=", "<", "<=", ">", ">=", "in") else { return l }
        let r = try sum()
        let syntax = ExprSyntax.compare(op: op, l.syntax, r.syntax)
        switch op {
        case "==", "!=":
            let negate = op == "!="
            return try node(syntax, [l, r]) { c in
                var a = l.eval(c), b = r.eval(c)
                if a == .missing && b == .null { a = .null }
                if b == .missing && a == .null { b = .null }
                if a == .missing || b == .missing { return .missing }
                return .bool((a == b) != negate)
            }
        case "in":
            // A literal right side is the usual case: parse its time range or take its list once, not per event.
            if case .string(let s)? = r.constant, let range = TimeRange(s) {
                return try node(syntax, [l, r]) { c in
                    guard case .number(let minute) = l.eval(c) else { return .missing }
                    return .bool(range.contains(minuteOfDay: Int(minute)))
                }
            }
            if case .list(let items)? = r.constant {
                return try node(syntax, [l, r]) { c in
                    let a = l.eval(c)
                    return a == .missing ? .missing : .bool(items.contains(a))
                }
            }
            return try node(syntax, [l, r]) { c in
                let a = l.eval(c), b = r.eval(c)
                if a == .missing || b == .missing { return .missing }
                switch b {
                case .list(let items): return .bool(items.contains(a))
                case .string(let s):
                    guard case .number(let minute) = a, let range = TimeRange(s) else { return .missing }
                    return .bool(range.contains(minuteOfDay: Int(minute)))
                default: return .missing
                }
            }
        default:
            return try node(syntax, [l, r]) { c in
                guard case .number(let a) = l.eval(c), case .number(let b) = r.eval(c) else { return .missing }
                switch op {
                case "<": return .bool(a < b)
                case "<=": return .bool(a <= b)
                case ">": return .bool(a > b)
                default: return .bool(a >= b)
                }
            }
        }
    }

    mutating func sum() throws -> Expr {
        var l = try product()
        while let op = accept("+", "-") {
            let a = l, b = try product()
            l = try node(.arithmetic([a.syntax, b.syntax]), [a, b]) { c in
                guard case .number(let x) = a.eval(c), case .number(let y) = b.eval(c) else { return .missing }
                return .number(op == "+" ? x + y : x - y)
            }
        }
        return l
    }

    mutating func product() throws -> Expr {
        var l = try unary()
        while let op = accept("*", "/") {
            let a = l, b = try unary()
            l = try node(.arithmetic([a.syntax, b.syntax]), [a, b]) { c in
                guard case .number(let x) = a.eval(c), case .number(let y) = b.eval(c) else { return .missing }
                if op == "/" && y == 0 { return .missing }
                return .number(op == "*" ? x * y : x / y)
            }
        }
        return l
    }

    mutating func unary() throws -> Expr {
        if accept("-") != nil {
            try descend()
            defer { depth -= 1 }
            let e = try unary()
            return try node(.arithmetic([e.syntax]), [e]) { c in if case .number(let d) = e.eval(c) { return .number(-d) }; return .missing }
        }
        return try primary()
    }

    mutating func primary() throws -> Expr {
        let (t, _) = tokens[k]
        switch t {
        case .num(let d): k += 1; return .literal(.number(d))
        case .str(let s): k += 1; return .literal(.string(s))
        case .op("("):
            k += 1
            let e = try or()
            guard accept(")") != nil else { throw error("expected `)`") }
            return e
        case .op("["):
            k += 1
            var items: [Expr] = []
            if accept("]") == nil {
                repeat { items.append(try or()) } while accept(",") != nil
                guard accept("]") != nil else { throw error("expected `]`") }
            }
            let constants = items.compactMap(\.constant)
            if constants.count == items.count {
                var e = try node(.list(items.map(\.syntax)), items) { _ in .list(constants) }
                e.constant = .list(constants)
                return e
            }
            return try node(.list(items.map(\.syntax)), items) { c in .list(items.map { $0.eval(c) }) }
        case .ident(let name):
            k += 1
            return try identifier(name)
        default:
            throw error("unexpected \(describe(t))")
        }
    }

    func identifier(_ name: String) throws -> Expr {
        switch name {
        case "true": return .literal(.bool(true))
        case "false": return .literal(.bool(false))
        case "null": return .literal(.null)
        case "local_time": return Expr(.builtin(name)) { c in .number(Double(c.localTime().minuteOfDay)) }
        case "weekday": return Expr(.builtin(name)) { c in .number(Double(c.localTime().weekday)) }
        case "device.type": return Expr(.builtin(name)) { c in .string(c.device.type) }
        case "device.id": return Expr(.builtin(name)) { c in .string(c.device.id) }
        case "device.subject": return Expr(.builtin(name)) { c in .string(c.device.subject) }
        case "mon": return .literal(.number(1))
        case "tue": return .literal(.number(2))
        case "wed": return .literal(.number(3))
        case "thu": return .literal(.number(4))
        case "fri": return .literal(.number(5))
        case "sat": return .literal(.number(6))
        case "sun": return .literal(.number(7))
        default: break
        }
        if name.hasPrefix("data."), name.count > 5 {
            let field = String(name.dropFirst(5))
            return Expr(.data(field)) { c in Value(c.event.data[field]) }
        }
        if name.hasPrefix("attrs."), name.count > 6 {
            let field = String(name.dropFirst(6))
            return Expr(.attrs(field)) { c in Value(c.device.attrs[field]) }
        }
        throw ExprError(message: "unknown name `\(name)` (use data.FIELD, attrs.NAME, device.type, local_time, weekday)", position: tokens[k - 1].1)
    }
}
