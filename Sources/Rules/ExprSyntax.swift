/// What a compiled expression reads and compares, kept beside its closure so that `rules check` can see
/// fields and literals without evaluating anything.
indirect enum ExprSyntax {
    case literal(Value)
    case data(String)
    case attrs(String)
    /// `local_time`, `weekday` (numbers), `device.type`, `device.id`, `device.subject` (text).
    case builtin(String)
    case compare(op: String, ExprSyntax, ExprSyntax)
    /// `+ - * /` and unary `-`: a number from numbers.
    case arithmetic([ExprSyntax])
    /// `and`, `or`, `not` (the operator, then its operands): a boolean from booleans.
    case logic(String, [ExprSyntax])
    case list([ExprSyntax])

    /// Every direct part, for walks.
    var children: [ExprSyntax] {
        switch self {
        case .literal, .data, .attrs, .builtin: return []
        case .compare(_, let a, let b): return [a, b]
        case .arithmetic(let xs), .logic(_, let xs), .list(let xs): return xs
        }
    }

    /// The device attributes without which the expression is never true: with `attrs.NAME` missing or null, a
    /// comparison reading it (as a side, or in arithmetic) is missing or false — `==` a literal that is not null,
    /// `<` `<=` `>` `>=`, `in` a literal range or a list of literals without null — and so is the attr alone; `and`
    /// needs what either side needs, `or` what both sides need. Anything else (`!=`, `not`, a comparison between two
    /// fields) is taken to need nothing: the set is never larger than the truth.
    var attrsRequired: Set<String> {
        switch self {
        case .attrs(let name): return [name]
        case .logic("and", let xs): return xs.reduce(into: Set<String>()) { $0.formUnion($1.attrsRequired) }
        case .logic("or", let xs): return xs.dropFirst().reduce(xs.first?.attrsRequired ?? []) { $0.intersection($1.attrsRequired) }
        case .compare("==", let a, let b):
            if b.isNonNullLiteral { return a.attrsRead }
            if a.isNonNullLiteral { return b.attrsRead }
            return []
        case .compare("<", let a, let b), .compare("<=", let a, let b), .compare(">", let a, let b), .compare(">=", let a, let b):
            return a.attrsRead.union(b.attrsRead)
        case .compare("in", let a, .literal(.string)): return a.attrsRead
        case .compare("in", let a, .list(let items)) where items.allSatisfy(\.isNonNullLiteral): return a.attrsRead
        default: return []
        }
    }

    /// The attrs read as a value: the attr itself, or in arithmetic (missing or null makes it missing).
    private var attrsRead: Set<String> {
        switch self {
        case .attrs(let name): return [name]
        case .arithmetic(let xs): return xs.reduce(into: Set<String>()) { $0.formUnion($1.attrsRead) }
        default: return []
        }
    }

    private var isNonNullLiteral: Bool {
        guard case .literal(let v) = self else { return false }
        return v != .null && v != .missing
    }
}
