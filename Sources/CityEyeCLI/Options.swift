import ArgumentParser
import Foundation
import Model
import Store
import Engine

struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The SQLite store file.", valueName: "FILE"))
    var db: String = "cityeye.db"

    /// Opens an existing store; a missing file is an error that says how to make one.
    func openExisting() throws -> Store {
        guard FileManager.default.fileExists(atPath: db) else {
            throw Failure("no store at \(db): run `cityeye replay` or `cityeye run` first, or pass --db FILE")
        }
        return try failing { try Store(path: db, create: false) }
    }

    /// The store and the registry recorded in it (who works where, timezones).
    func openWithRegistry() throws -> (Store, Registry) {
        let store = try openExisting()
        let recorded = try failing { try Deployment.people(in: store) }
        guard let registry = recorded else {
            throw Failure("the store \(db) has no registry recorded: run `cityeye replay` or `cityeye run` into it first")
        }
        return (store, registry)
    }
}

/// Parses an RFC 3339 option value.
func parseTime(_ s: String, option: String) throws -> Instant {
    guard let t = RFC3339.parse(s) else {
        throw ValidationError("\(option) \(s): not an RFC 3339 time with an offset, e.g. 2026-11-24T18:00:00+08:00")
    }
    return t
}
