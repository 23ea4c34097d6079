import ArgumentParser
import Foundation
import Model
import Store
import Engine
import Lease
import PostgresStore

/// An SQLite store file given to a command.
enum SQLiteStoreFile {
    /// Opens an existing store; a missing file is an error that says how to make one.
    static func openExisting(_ db: String) throws -> Store {
        guard FileManager.default.fileExists(atPath: db) else {
            throw Failure("no store at \(db): run `cityeye replay` or `cityeye run` first, or pass --db FILE")
        }
        return try failing { try Store(path: db, create: false) }
    }
}

/// `--db` of every command that reads or writes a store: an SQLite file, or
/// `postgres://user@host:port/database` with the password from `--db-password-file` or `PGPASSWORD` (never in the URL).
struct AnyStoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store: an SQLite file, or postgres://user@host:port/database.", valueName: "FILE|URL"))
    var db: String = "cityeye.db"
    @Option(name: .customLong("db-password-file"),
            help: ArgumentHelp("For a postgres:// --db: the file holding its password (else PGPASSWORD, else none).", valueName: "FILE"))
    var passwordFile: String?

    var isPostgres: Bool { PostgresURL.names(db) }

    func validate() throws {
        if passwordFile != nil && !isPostgres {
            throw ValidationError("--db-password-file is for a PostgreSQL store (--db postgres://…); \(db) is an SQLite file")
        }
    }

    /// The PostgreSQL server and database `--db` names (its errors never hold the password).
    func target() throws -> PostgresTarget {
        try failing { try PostgresTarget.parse(db, passwordFile: passwordFile) }
    }

    /// How `--db` is named in messages: the URL without any password.
    var display: String { isPostgres ? PostgresURL.redacted(db) : db }

    /// Opens an existing store of either kind for reading; a missing one is an error that says how to make one.
    func openReader() throws -> any StoreReader { try openWriter() }

    /// Opens an existing store of either kind for people's writes (their actions commit under the store's write lock,
    /// beside a live engine or partitioned engines).
    func openWriter() throws -> any EngineStore {
        guard isPostgres else { return try SQLiteStoreFile.openExisting(db) }
        let target = try target()
        return try failing { try PostgresStore(target: target, create: false) }
    }

    /// The store and the registry recorded in it (who works where, timezones).
    func openWithRegistry() throws -> (any EngineStore, Registry) {
        let store = try openWriter()
        let recorded = try failing { try Deployment.people(in: store) }
        guard let registry = recorded else {
            throw Failure("the store \(display) has no registry recorded: run `cityeye replay` or `cityeye run` into it first")
        }
        return (store, registry)
    }
}

/// Telling a PostgreSQL URL from a store file name.
enum PostgresURL {
    static func names(_ db: String) -> Bool { PostgresStoreName.names(db) }

    static func redacted(_ url: String) -> String { PostgresTarget.redacted(url) }
}

/// Parses an RFC 3339 option value.
func parseTime(_ s: String, option: String) throws -> Instant {
    guard let t = RFC3339.parse(s) else {
        throw ValidationError("\(option) \(s): not an RFC 3339 time with an offset, e.g. 2026-11-24T18:00:00+08:00")
    }
    return t
}
