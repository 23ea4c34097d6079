import Foundation
import Model
import Registry
import Store

/// The registry a store was filled with, kept in the store itself so that the people's commands
/// (`ack`, `close`, `show`…) know workers, roles and timezones from `--db` alone.
public enum Deployment {
    static let stateName = "registry"

    public static func record(registryText: String, in store: Store) throws {
        try store.writeTransaction { try $0.setState(stateName, Array(registryText.utf8)) }
    }

    /// The registry recorded in the store, or nil if the store has none yet.
    public static func registry(in store: Store) throws -> Registry? {
        guard let bytes = try store.state(stateName) else { return nil }
        return try RegistryLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "\(store.path) (recorded registry)")
    }
}
