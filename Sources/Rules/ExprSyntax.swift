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
    /// `and`, `or`, `not`: a boolean from booleans.
    case logic([ExprSyntax])
    case list([ExprSyntax])

    /// Every direct part, for walks.
    var children: [ExprSyntax] {
        switch self {
        case .literal, .data, .attrs, .builtin: return []
        case .compare(_, let a, let b): return [a, b]
        case .arithmetic(let xs), .logic(let xs), .list(let xs): return xs
        }
    }
}
