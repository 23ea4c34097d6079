import Foundation
import Model
import YAMLSupport

/// A registry error: file, line where possible, the offending id, and what is wrong. Nothing starts on one.
public typealias RegistryError = YAMLFileError

/// Loads the deployment file (docs/contract.md §4).
public enum RegistryLoader {
    /// The shipped device types and those declared in schema files so far (`Schema`).
    public static var deviceTypes: [String] { DeviceSchema.deviceTypes }

    public static func load(path: String) throws(RegistryError) -> Registry {
        let doc = try YAMLValue.load(path: path, what: "registry")
        return try build(doc)
    }

    public static func parse(yaml: String, file: String) throws(RegistryError) -> Registry {
        try build(try YAMLValue.parse(yaml, file: file))
    }

    /// Every problem in the file is collected (an item with one is left out), then all are thrown as one error.
    static func build(_ doc: YAMLValue) throws(RegistryError) -> Registry {
        let top = try doc.fields("the registry", allowed: ["communities", "grids", "workers", "devices"])
        var problems: [RegistryError] = []
        /// Runs one item's checks; a problem is noted and the next item read.
        func each(_ items: [YAMLValue], _ body: (YAMLValue) throws(RegistryError) -> Void) {
            for v in items {
                do throws(RegistryError) { try body(v) } catch { problems.append(error) }
            }
        }
        var seen: [String: (kind: String, line: Int?)] = [:]
        func claim(_ id: String, _ kind: String, _ v: YAMLValue) throws(RegistryError) {
            guard !id.isEmpty else { throw v.error("\(kind) with an empty id") }
            if kind == "device" || kind == "community", let bad = TopicLevel.problem(id) {
                throw v.error("\(kind) id `\(id)`: \(bad), so no MQTT topic cityeye/COMMUNITY/DEVICE can carry it")
            }
            if let prior = seen["\(kind)/\(id)"] {
                throw v.error("duplicate \(kind) id \(id) (first declared at line \(prior.line.map(String.init) ?? "?"))")
            }
            seen["\(kind)/\(id)"] = (kind, v.line)
        }
        func section(_ name: String) -> [YAMLValue] {
            do throws(RegistryError) {
                guard let s = top[name] else { throw doc.error("the registry has no `\(name):` section") }
                return try s.items(name)
            } catch { problems.append(error); return [] }
        }

        var communities: [Community] = []
        each(section("communities")) { v throws(RegistryError) in
            let f = try v.fields("community", allowed: ["id", "name", "timezone"])
            let id = try required(f, "id", in: "community", v).string("community id")
            try claim(id, "community", v)
            let tz = try f["timezone"]?.string("timezone of \(id)") ?? Community.defaultTimezone
            guard TimeZone(identifier: tz) != nil else { throw v.error("community \(id): unknown timezone \(tz) (use an IANA name like Asia/Shanghai)") }
            communities.append(Community(id: id, name: try f["name"]?.string("name of \(id)") ?? id, timezone: tz))
        }
        let communityIDs = Set(communities.map(\.id))

        var grids: [Grid] = []
        each(section("grids")) { v throws(RegistryError) in
            let f = try v.fields("grid", allowed: ["id", "community", "name"])
            let id = try required(f, "id", in: "grid", v).string("grid id")
            try claim(id, "grid", v)
            let c = try required(f, "community", in: "grid \(id)", v).string("community of grid \(id)")
            guard communityIDs.contains(c) else { throw v.error("grid \(id): unknown community \(c)") }
            grids.append(Grid(id: id, community: c, name: try f["name"]?.string("name of \(id)") ?? id))
        }
        let gridCommunity = Dictionary(uniqueKeysWithValues: grids.map { ($0.id, $0.community) })

        var workers: [Worker] = []
        each(section("workers")) { v throws(RegistryError) in
            let f = try v.fields("worker", allowed: ["id", "name", "grid", "community", "role"])
            let id = try required(f, "id", in: "worker", v).string("worker id")
            try claim(id, "worker", v)
            let roleText = try f["role"]?.string("role of \(id)") ?? (f["grid"] != nil ? "worker" : "supervisor")
            guard let role = WorkerRole(rawValue: roleText) else { throw v.error("worker \(id): unknown role \(roleText) (worker or supervisor)") }
            let name = try f["name"]?.string("name of \(id)") ?? id
            switch role {
            case .worker:
                guard let g = try f["grid"]?.string("grid of \(id)") else { throw v.error("worker \(id): role worker needs a grid") }
                guard let c = gridCommunity[g] else { throw v.error("worker \(id): unknown grid \(g)") }
                workers.append(Worker(id: id, name: name, role: .worker, grid: g, community: c))
            case .supervisor:
                guard let c = try f["community"]?.string("community of \(id)") else { throw v.error("worker \(id): role supervisor needs a community") }
                guard communityIDs.contains(c) else { throw v.error("worker \(id): unknown community \(c)") }
                if f["grid"] != nil { throw v.error("worker \(id): a supervisor has a community, not a grid") }
                workers.append(Worker(id: id, name: name, role: .supervisor, grid: nil, community: c))
            }
        }

        var devices: [Device] = []
        each(section("devices")) { v throws(RegistryError) in
            let f = try v.fields("device", allowed: ["id", "type", "community", "grid", "subject", "attrs"])
            let id = try required(f, "id", in: "device", v).string("device id")
            try claim(id, "device", v)
            let type = try required(f, "type", in: "device \(id)", v).string("type of \(id)")
            guard DeviceSchema.isKnown(type) else {
                throw v.error("device \(id): unknown type \(type) (known: \(deviceTypes.sorted().joined(separator: ", ")); a deployment's own types are declared in a schema file under the rules folder, see docs/rules.md)")
            }
            let c = try required(f, "community", in: "device \(id)", v).string("community of \(id)")
            guard communityIDs.contains(c) else { throw v.error("device \(id): unknown community \(c)") }
            let g = try required(f, "grid", in: "device \(id)", v).string("grid of \(id)")
            guard let gc = gridCommunity[g] else { throw v.error("device \(id): unknown grid \(g)") }
            guard gc == c else { throw v.error("device \(id): grid \(g) belongs to community \(gc), not \(c)") }
            var attrs = JSONObject()
            if let a = f["attrs"], !a.isNull {
                guard case .object(let o) = a.json() else { throw a.error("device \(id): attrs must be a mapping") }
                attrs = o
                let typed = try typedAttrProblems(a, device: id, type: type)
                guard typed.isEmpty else { problems += typed.dropLast(); throw typed.last! }
            }
            let subject = try f["subject"]?.string("subject of \(id)")
            devices.append(Device(id: id, type: type, community: c, grid: g, subject: subject, attrs: attrs))
        }
        if problems.count == 1 { throw problems[0] }
        if let first = problems.first {
            throw RegistryError(file: doc.file, line: first.line,
                                "\(problems.count) problems in the registry:\n" + problems.map { "  \($0)" }.joined(separator: "\n"))
        }
        return Registry(communities: communities, grids: grids, workers: workers, devices: devices)
    }

    /// Attributes docs/contract.md §5–6 types (`DeviceSchema`) that have another kind, each at its own line.
    static func typedAttrProblems(_ attrs: YAMLValue, device id: String, type: String) throws(RegistryError) -> [RegistryError] {
        var out: [RegistryError] = []
        for (name, v) in try attrs.entries("attrs of \(id)") {
            guard let spec = DeviceSchema.attr(name, of: type), !spec.kind.accepts(v.json()) else { continue }
            let got = v.node.scalar.map { "`\($0.string)`" } ?? (v.node.sequence != nil ? "a list" : "a mapping")
            let hint = spec.kind == .timeRange || spec.kind == .string ? " (quote it: \(name): \"…\")" : ""
            out.append(v.error("device \(id): attrs.\(name) of a \(type) must be \(spec.kind), got \(got)\(hint)"))
        }
        return out
    }

    static func required(_ f: [String: YAMLValue], _ key: String, in what: String, _ v: YAMLValue) throws(RegistryError) -> YAMLValue {
        guard let x = f[key] else { throw v.error("\(what): missing `\(key)`") }
        return x
    }
}
