import FuzzDriver
@testable import Rules

// The rule expression parser on arbitrary text: an error or an expression, never a crash (deep nesting included).
runFuzzer { bytes in
    _ = try? ExprParser.compile(String(decoding: bytes, as: UTF8.self))
}
