import ArgumentParser
import Foundation
import Model
import Store
import Accounts
import Closedloop

struct People: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Web accounts of the registry's workers and supervisors (for `cityeye serve`).",
        discussion: """
        Passwords are stored only as bcrypt hashes, in the store: an SQLite file, or the city's PostgreSQL store \
        (--db postgres://user@host:port/database, its password from --db-password-file or PGPASSWORD). The command \
        line itself does not ask for a password: whoever can write the store (the SQLite file, or the PostgreSQL \
        database as its user) can act as anyone.
        """,
        subcommands: [SetPassword.self, ListPeople.self])
}

struct SetPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-password",
        abstract: "Set a person's web password, read from standard input (twice on a terminal, once from a pipe).",
        discussion: "The person must be a worker or supervisor of the registry recorded in the store. Never put a password on the command line: it would show in the process list and the shell history.")
    @Argument(help: "A worker or supervisor id from the registry.") var id: String
    @OptionGroup var store: AnyStoreOptions

    func run() throws {
        let (db, registry) = try store.openAccounts()
        defer { db.close() }
        guard registry.workers[id] != nil else {
            throw Failure("\(id) is not a worker or supervisor in the registry recorded in \(store.display): `cityeye people list --db \(store.display)` lists them")
        }
        let password = try PasswordInput.read(for: id)
        let now = Instant(ms: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
        do {
            try Passwords(store: db).set(password, for: id, registry: registry, at: now, by: OperatingSystemUser.current)
        } catch {
            throw Failure(error.message)
        }
        print("password set for \(id) \(registry.workers[id]?.name ?? "")")
    }
}

struct ListPeople: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The registry's workers and supervisors, and whether each has a web password.")
    @OptionGroup var store: AnyStoreOptions

    func run() throws {
        let (db, registry) = try store.openAccounts()
        defer { db.close() }
        let accounts = Dictionary(uniqueKeysWithValues: try failing { try db.accounts() }.map { ($0.worker, $0) })
        let rows = registry.workers.values.sorted { $0.id < $1.id }.map { w -> [String] in
            let set = accounts[w.id].map {
                IncidentFormat.local($0.setAt, community: w.community, registry: registry) + " by \($0.setBy)"
            } ?? "no password"
            return [w.id, w.name, w.role.rawValue, w.community, w.grid ?? "", set]
        }
        print(Terminal.table(["ID", "NAME", "ROLE", "COMMUNITY", "GRID", "WEB PASSWORD"], rows))
    }
}

extension AnyStoreOptions {
    /// The store (either kind) with its web accounts, and the registry recorded in it.
    func openAccounts() throws -> (any WebStore, Registry) {
        let (store, registry) = try openWithRegistry()
        guard let accounts = store as? any WebStore else {
            store.close()
            throw Failure("the store \(display) keeps no web accounts")
        }
        return (accounts, registry)
    }
}

/// A password from standard input: on a terminal, asked twice without echo; from a pipe, the first line.
enum PasswordInput {
    static func read(for id: String) throws -> String {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw Failure("no password on standard input: pipe it in, e.g. `printf '%s\\n' \"$PW\" | cityeye people set-password \(id)`")
            }
            return line
        }
        let first = try prompt("new password for \(id): ")
        let second = try prompt("again: ")
        guard first == second else { throw Failure("the two passwords differ: nothing was changed") }
        return first
    }

    private static func prompt(_ text: String) throws -> String {
        FileHandle.standardError.write(Data(text.utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw Failure("no password entered: nothing was changed") }
        return line
    }
}
