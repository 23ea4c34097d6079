import Foundation
import Model
import Yams

/// An error in a hand-written YAML file: where (file:line) and what.
public struct YAMLFileError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var message: String
    public init(file: String, line: Int?, _ message: String) { self.file = file; self.line = line; self.message = message }
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

/// A YAML node with the file it came from, and typed accessors whose errors name file, line and field.
public struct YAMLValue {
    public let node: Node
    public let file: String

    public init(node: Node, file: String) { self.node = node; self.file = file }

    /// Parses a whole document; an empty document is an empty mapping.
    public static func parse(_ text: String, file: String) throws(YAMLFileError) -> YAMLValue {
        try NestingBound.check(text, file: file)
        do {
            let node = try Yams.compose(yaml: text, CoreScalar.resolver) ?? Node.mapping(Node.Mapping([]))
            // Aliases share their anchor's node here, but every walk of the document expands them: bound that first.
            if text.utf8.contains(UInt8(ascii: "*")) { try AliasBudget.check(node, textBytes: text.utf8.count, file: file) }
            return YAMLValue(node: node, file: file)
        } catch let e as YAMLFileError {
            throw e
        } catch let e as YamlError {
            throw YAMLFileError(file: file, line: Self.line(of: e), "bad YAML: \(Self.problem(of: e))")
        } catch {
            throw YAMLFileError(file: file, line: nil, "bad YAML: \(error)")
        }
    }

    public static func load(path: String, what: String) throws(YAMLFileError) -> YAMLValue {
        let data: [UInt8]
        switch FileBytes.read(path) {
        case .success(let bytes): data = bytes
        case .failure(let e):
            throw YAMLFileError(file: path, line: nil, "cannot read the \(what) file: \(e.isMissing ? "no such file" : e.description)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw YAMLFileError(file: path, line: nil, "cannot read the \(what) file: it is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _): return m.line
        default: return nil
        }
    }

    static func problem(of e: YamlError) -> String {
        switch e {
        case .scanner(_, let p, let m, _), .parser(_, let p, let m, _): return "\(p) at line \(m.line), column \(m.column)"
        default: return "\(e)"
        }
    }

    public var line: Int? { node.mark?.line }

    public func error(_ message: String) -> YAMLFileError { YAMLFileError(file: file, line: line, message) }

    /// The mapping's entries in file order; an error if this is not a mapping.
    public func entries(_ what: String) throws(YAMLFileError) -> [(key: String, value: YAMLValue)] {
        try keyedEntries(what).map { ($0.key, $0.value) }
    }

    /// `entries`, with the line of each key (a block mapping's value starts on the line after its key).
    public func keyedEntries(_ what: String) throws(YAMLFileError) -> [(key: String, line: Int?, value: YAMLValue)] {
        guard let m = node.mapping else { throw error("\(what) must be a mapping (key: value)") }
        var out: [(String, Int?, YAMLValue)] = []
        for (k, v) in m {
            guard let ks = k.string else { throw YAMLFileError(file: file, line: k.mark?.line, "\(what): keys must be text") }
            out.append((ks, k.mark?.line, YAMLValue(node: v, file: file)))
        }
        return out
    }

    /// A mapping checked against the keys allowed in it (typo guard).
    public func fields(_ what: String, allowed: Set<String>) throws(YAMLFileError) -> [String: YAMLValue] {
        var out: [String: YAMLValue] = [:]
        for (k, v) in try entries(what) {
            guard allowed.contains(k) else {
                throw YAMLFileError(file: file, line: v.line ?? line, "\(what): unknown key `\(k)` (allowed: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard out[k] == nil else { throw YAMLFileError(file: file, line: v.line, "\(what): key `\(k)` given twice") }
            out[k] = v
        }
        return out
    }

    public func items(_ what: String) throws(YAMLFileError) -> [YAMLValue] {
        if isNull { return [] }
        guard let seq = node.sequence else { throw error("\(what) must be a list") }
        return seq.map { YAMLValue(node: $0, file: file) }
    }

    /// The scalar as YAML 1.2's core schema reads it; nil for a list or a mapping.
    public var scalar: CoreScalar? {
        guard case .scalar(let s) = node else { return nil }
        return CoreScalar(s)
    }

    public var isNull: Bool { scalar == .null }

    public func string(_ what: String) throws(YAMLFileError) -> String {
        guard case .scalar(let s) = node else { throw error("\(what) must be text") }
        return s.string
    }

    public func int(_ what: String) throws(YAMLFileError) -> Int {
        guard case .int(let v)? = scalar else { throw error("\(what) must be a whole number, got `\(node.string ?? "?")`") }
        return v
    }

    public func double(_ what: String) throws(YAMLFileError) -> Double {
        switch scalar {
        case .int(let v)?: return Double(v)
        case .float(let v)?: return v
        default: throw error("\(what) must be a number, got `\(node.string ?? "?")`")
        }
    }

    public func bool(_ what: String) throws(YAMLFileError) -> Bool {
        guard case .bool(let v)? = scalar else { throw error("\(what) must be true or false, got `\(node.string ?? "?")`") }
        return v
    }

    public func strings(_ what: String) throws(YAMLFileError) -> [String] {
        if case .scalar = node { return [try string(what)] }
        var out: [String] = []
        for v in try items(what) { out.append(try v.string(what)) }
        return out
    }

    /// Plain YAML data as JSON values (for device `attrs`).
    public func json() -> JSONValue {
        switch node {
        case .scalar(let s):
            switch CoreScalar(s) {
            case .null: return .null
            case .bool(let b): return .bool(b)
            case .int(let i): return .number(Double(i))
            case .float(let d): return .number(d)
            case .string(let t): return .string(t)
            }
        case .sequence(let seq):
            return .array(seq.map { YAMLValue(node: $0, file: file).json() })
        case .mapping(let m):
            return .object(JSONObject(m.map { JSONObject.Field(key: $0.key.string ?? "", value: YAMLValue(node: $0.value, file: file).json()) }))
        }
    }
}

/// The YAML reader recurses once per level of nesting: a few thousand `[` overflowed its stack (found by the fuzzer in
/// a rule file). Bounded before reading, on the raw text: flow nesting (`[`, `{` not yet closed, counted even inside
/// quotes — an over-count only refuses what no real file holds) and indentation, which bounds block nesting.
enum NestingBound {
    static let flowLevels = 256
    static let indentColumns = 512

    static func check(_ text: String, file: String) throws(YAMLFileError) {
        var depth = 0, line = 1, column = 0, atIndent = true
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\n"):
                line += 1; column = 0; atIndent = true; continue
            case UInt8(ascii: " ") where atIndent:
                column += 1
                if column > indentColumns {
                    throw YAMLFileError(file: file, line: line, "bad YAML: indented more than \(indentColumns) columns (nesting too deep)")
                }
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > flowLevels {
                    throw YAMLFileError(file: file, line: line, "bad YAML: more than \(flowLevels) levels of [ or { nested")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            default: break
            }
            atIndent = false
        }
    }
}
