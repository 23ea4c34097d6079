import Foundation
import Model
import Registry
import Rules
import Store

/// The registry a store was filled with, kept in the store itself so that the people's commands
/// (`ack`, `close`, `show`…) know workers, roles and timezones from `--db` alone.
public enum Deployment {
    static let stateName = "registry"
    /// Communities, grids and workers alone, as JSON: what people's commands need, without parsing a city's
    /// million devices for every `ack` (a 200,000-device registry took 9 s to parse).
    static let peopleStateName = "registry.people"
    /// The schema files of the rules folder the registry was read with: its devices may be of their types.
    static let schemaStateName = "registry.schema"

    public static func record(registryText: String, registry: Registry, schema: [SchemaSource] = [], in store: any EngineStore) throws {
        let people = peopleJSON(registry)
        let schemaJSON = Array((try? JSONSerialization.data(withJSONObject: schema.map { ["path": $0.path, "text": $0.text] },
                                                             options: [.sortedKeys])) ?? Data())
        try store.transaction { tx in
            try tx.setCityState(stateName, Array(registryText.utf8))
            try tx.setCityState(peopleStateName, people)
            try tx.setCityState(schemaStateName, schemaJSON)
        }
    }

    /// The registry recorded in the store, devices and all, or nil if the store has none yet.
    public static func registry(in store: any StoreReader) throws -> Registry? {
        guard let bytes = try store.state(stateName) else { return nil }
        return try parseRecorded(bytes, in: store)
    }

    /// Declares the recorded schema files' types, then parses the recorded registry YAML.
    static func parseRecorded(_ bytes: [UInt8], in store: any StoreReader) throws -> Registry {
        let file = "\(store.path) (recorded registry)"
        if let recorded = try store.state(schemaStateName), !recorded.isEmpty {
            guard let items = try? JSONSerialization.jsonObject(with: Data(recorded)) as? [[String: String]] else {
                throw RegistryError(file: file, line: nil, "its schema files are unreadable: replay or run into the store again to record them")
            }
            for item in items {
                guard let path = item["path"], let text = item["text"] else { continue }
                let problems = SchemaFile.declare(SchemaSource(path: "\(path) (recorded in \(store.path))", text: text))
                if let first = problems.first { throw first }
            }
        }
        return try RegistryLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: file)
    }

    /// The recorded registry's communities, grids and workers, with no devices: who works where, roles and
    /// timezones. Read from the compact form (stores written before it have only the YAML: parsed then).
    public static func people(in store: any StoreReader) throws -> Registry? {
        guard let bytes = try store.state(peopleStateName) else { return try registry(in: store) }
        guard let registry = parsePeople(bytes) else {
            throw RegistryError(file: "\(store.path) (recorded registry)", line: nil, "its people are unreadable: replay or run into the store again to record them")
        }
        return registry
    }

    /// The whole registry when its YAML is small enough to parse at once (under `limit` bytes, a town), else
    /// `people(in:)`: a command that shows one device's type need not parse a city.
    public static func registry(in store: any StoreReader, devicesIfUnder limit: Int) throws -> Registry? {
        guard let bytes = try store.state(stateName) else { return nil }
        if bytes.count < limit { return try parseRecorded(bytes, in: store) }
        return try people(in: store)
    }

    static func peopleJSON(_ r: Registry) -> [UInt8] {
        let communities = r.communities.values.sorted { $0.id < $1.id }.map { ["id": $0.id, "name": $0.name, "timezone": $0.timezone] }
        let grids = r.grids.values.sorted { $0.id < $1.id }.map { ["id": $0.id, "community": $0.community, "name": $0.name] }
        let workers = r.workers.values.sorted { $0.id < $1.id }.map { w -> [String: String] in
            var d = ["id": w.id, "name": w.name, "role": w.role.rawValue, "community": w.community]
            if let g = w.grid { d["grid"] = g }
            return d
        }
        let doc: [String: Any] = ["version": 1, "communities": communities, "grids": grids, "workers": workers]
        return Array((try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data())
    }

    static func parsePeople(_ bytes: [UInt8]) -> Registry? {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], doc["version"] as? Int == 1,
              let cs = doc["communities"] as? [[String: String]], let gs = doc["grids"] as? [[String: String]],
              let ws = doc["workers"] as? [[String: String]] else { return nil }
        var communities: [Community] = [], grids: [Grid] = [], workers: [Worker] = []
        for c in cs {
            guard let id = c["id"], let name = c["name"], let tz = c["timezone"] else { return nil }
            communities.append(Community(id: id, name: name, timezone: tz))
        }
        for g in gs {
            guard let id = g["id"], let community = g["community"], let name = g["name"] else { return nil }
            grids.append(Grid(id: id, community: community, name: name))
        }
        for w in ws {
            guard let id = w["id"], let name = w["name"], let role = w["role"].flatMap(WorkerRole.init(rawValue:)),
                  let community = w["community"] else { return nil }
            workers.append(Worker(id: id, name: name, role: role, grid: w["grid"], community: community))
        }
        return Registry(communities: communities, grids: grids, workers: workers, devices: [])
    }
}
