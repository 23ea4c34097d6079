import Model
import YAMLSupport

/// A schema file's text and where it was read from: what a store records so that the people's commands know the
/// deployment's own device types without the rules folder.
public struct SchemaSource: Sendable, Equatable {
    public var path: String
    public var text: String
    public init(path: String, text: String) { self.path = path; self.text = text }
}

/// A schema file (docs/rules.md "A deployment's own types"): a YAML file under the rules folder with
/// `event_types:` and/or `device_types:` at the top. `scenarios/schema.yaml` is the shipped schema in this form.
///
///     event_types:
///       pump.water_level:
///         level_cm: {type: number, min: 0}
///         pump: {type: one_of, values: [running, stopped], required: false}
///     device_types:
///       flood_sensor:
///         alarm_cm: number
public enum SchemaFile {
    static let topKeys: Set<String> = ["event_types", "device_types", "description"]

    /// Whether a document is a schema file rather than a rule file.
    static func isSchema(_ top: [(key: String, value: YAMLValue)]) -> Bool {
        top.contains { $0.key == "event_types" || $0.key == "device_types" }
    }

    /// The declarations of one schema file; every problem is noted (a type with one is left out).
    public static func declarations(_ doc: YAMLValue, problems: inout [YAMLFileError]) -> SchemaDeclarations {
        var out = SchemaDeclarations()
        let top: [String: YAMLValue]
        do { top = try doc.fields("the schema file", allowed: topKeys) } catch { problems.append(error); return out }
        func at(_ line: Int?) -> String { "\(doc.file):\(line ?? 0)" }
        for (name, line, v) in entries(top["event_types"], "event_types", &problems) {
            do throws(YAMLFileError) {
                guard isEventTypeName(name) else {
                    throw YAMLFileError(file: doc.file, line: line, "event type `\(name)`: use lowercase letters, digits and `_`, in two or more parts joined by `.` (like pump.water_level)")
                }
                var fields: [FieldSpec] = []
                for (field, fv) in try v.isNull ? [] : v.entries("fields of \(name)") {
                    guard isFieldName(field) else { throw fv.error("\(name): field `\(field)`: use letters, digits and `_` (a rule reads it as data.\(field))") }
                    fields.append(try fieldSpec(fv, field: field, of: name))
                }
                out.events.append((EventTypeSpec(name: name, fields: fields), at(line)))
            } catch { problems.append(error) }
        }
        for (name, line, v) in entries(top["device_types"], "device_types", &problems) {
            do throws(YAMLFileError) {
                guard isDeviceTypeName(name) else { throw YAMLFileError(file: doc.file, line: line, "device type `\(name)`: use lowercase letters, digits and `_` (like flood_sensor)") }
                var attrs: [AttrSpec] = []
                for (attr, av) in try v.isNull ? [] : v.entries("attrs of \(name)") {
                    guard isFieldName(attr) else { throw av.error("\(name): attr `\(attr)`: use letters, digits and `_` (a rule reads it as attrs.\(attr))") }
                    attrs.append(AttrSpec(attr, try attrKind(av, attr: attr, of: name)))
                }
                out.devices.append((DeviceTypeSpec(name: name, attrs: attrs), at(line)))
            } catch { problems.append(error) }
        }
        return out
    }

    /// Reads a schema file's text and declares its types (`Schema.declare`); every problem, with file:line.
    public static func declare(_ source: SchemaSource) -> [YAMLFileError] {
        let doc: YAMLValue
        do { doc = try YAMLValue.parse(source.text, file: source.path) } catch { return [error] }
        return declare(doc, path: source.path)
    }

    /// Declares the types of a schema file already parsed.
    static func declare(_ doc: YAMLValue, path: String) -> [YAMLFileError] {
        var problems: [YAMLFileError] = []
        let d = declarations(doc, problems: &problems)
        guard problems.isEmpty else { return problems }
        return Schema.declare(d).map { YAMLFileError(file: path, line: Int($0.at.split(separator: ":").last ?? ""), $0.message) }
    }

    private static func entries(_ v: YAMLValue?, _ what: String, _ problems: inout [YAMLFileError]) -> [(key: String, line: Int?, value: YAMLValue)] {
        guard let v, !v.isNull else { return [] }
        do { return try v.keyedEntries(what) } catch { problems.append(error); return [] }
    }

    static let fieldKinds = ["int", "number", "bool", "string", "string_or_null", "one_of"]

    /// `int`, or `{type: int, min: 0, max: 100, required: false}`, or `{type: one_of, values: [a, b]}`.
    static func fieldSpec(_ v: YAMLValue, field: String, of type: String) throws(YAMLFileError) -> FieldSpec {
        let what = "\(type).\(field)"
        if case .string(let kind)? = v.scalar {
            guard kind != "one_of" else { throw v.error("\(what): one_of needs its values: {type: one_of, values: [a, b]}") }
            return FieldSpec(name: field, kind: try fieldKind(kind, min: nil, max: nil, values: nil, what, v), required: true)
        }
        let f = try v.fields(what, allowed: ["type", "min", "max", "values", "required"])
        guard let kind = try f["type"]?.string("\(what) type") else { throw v.error("\(what): missing `type` (one of \(fieldKinds.joined(separator: ", ")))") }
        let kindValue = try fieldKind(kind, min: f["min"], max: f["max"], values: f["values"], what, v)
        return FieldSpec(name: field, kind: kindValue, required: try f["required"]?.bool("\(what) required") ?? true)
    }

    private static func fieldKind(_ kind: String, min: YAMLValue?, max: YAMLValue?, values: YAMLValue?,
                                  _ what: String, _ v: YAMLValue) throws(YAMLFileError) -> FieldKind {
        if kind != "int" && kind != "number", let bound = min ?? max { throw bound.error("\(what): min and max are for int and number") }
        if kind != "one_of", let values { throw values.error("\(what): values are for one_of") }
        switch kind {
        case "int":
            let lo = try min.map { v throws(YAMLFileError) in Int64(try v.int("\(what) min")) }
            let hi = try max.map { v throws(YAMLFileError) in Int64(try v.int("\(what) max")) }
            if lo == nil && hi == nil { return .int(nil) }
            guard (lo ?? .min) <= (hi ?? .max) else { throw v.error("\(what): min is above max") }
            return .int((lo ?? .min)...(hi ?? .max))
        case "number":
            let lo = try min?.double("\(what) min"), hi = try max?.double("\(what) max")
            if lo == nil && hi == nil { return .number(nil) }
            guard (lo ?? -.greatestFiniteMagnitude) <= (hi ?? .greatestFiniteMagnitude) else { throw v.error("\(what): min is above max") }
            return .number((lo ?? -.greatestFiniteMagnitude)...(hi ?? .greatestFiniteMagnitude))
        case "bool": return .bool
        case "string": return .string
        case "string_or_null": return .stringOrNull
        case "one_of":
            guard let values else { throw v.error("\(what): one_of needs `values: [a, b]`") }
            let list = try values.strings("\(what) values")
            guard !list.isEmpty else { throw values.error("\(what): one_of needs at least one value") }
            return .oneOf(list)
        default:
            throw v.error("\(what): unknown type `\(kind)` (one of \(fieldKinds.joined(separator: ", ")))")
        }
    }

    static let attrKinds: [(String, AttrKind)] = [("bool", .bool), ("number", .number), ("int", .int), ("string", .string),
                                                  ("strings", .strings), ("time_range", .timeRange)]

    /// `number`, or `{type: number}`.
    static func attrKind(_ v: YAMLValue, attr: String, of type: String) throws(YAMLFileError) -> AttrKind {
        let what = "\(type) attrs.\(attr)"
        let name: String
        if case .string(let s)? = v.scalar { name = s } else {
            let f = try v.fields(what, allowed: ["type"])
            guard let t = try f["type"]?.string("\(what) type") else { throw v.error("\(what): missing `type`") }
            name = t
        }
        guard let kind = attrKinds.first(where: { $0.0 == name })?.1 else {
            throw v.error("\(what): unknown type `\(name)` (one of \(attrKinds.map(\.0).joined(separator: ", ")))")
        }
        return kind
    }

    static func isEventTypeName(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return s.utf8.count <= 64 && parts.count >= 2 && parts.allSatisfy { p in
            guard let first = p.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
            return p.utf8.allSatisfy { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
        }
    }

    static func isDeviceTypeName(_ s: String) -> Bool {
        guard let first = s.utf8.first, isLower(first), s.utf8.count <= 64 else { return false }
        return s.utf8.allSatisfy { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    static func isFieldName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !isDigit(first), s.utf8.count <= 64 else { return false }
        return s.utf8.allSatisfy { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "_") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    private static func isLower(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) }
    private static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
}
