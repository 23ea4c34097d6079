import ArgumentParser
import Foundation
import Store
import AuditChain
import PostgresStore
import Lease

struct AuditKeyOption: ParsableArguments {
    @Option(name: .customLong("audit-key"),
            help: ArgumentHelp("The audit key file (default: the store's path + .audit-key; for a postgres:// store, "
                               + "cityeye-DATABASE-HOST-PORT.audit-key in the working folder).", valueName: "FILE"))
    var file: String?

    func path(store: String) -> String { file ?? AuditKey.defaultPath(store: store) }

    /// Seals `store`'s audit rows with the key; when it cannot be read, says on stderr that the row(s) this command
    /// writes are not sealed, and carries on: a person's action is never lost or refused because of the key.
    func sealForPeople(_ store: Store, rows: String = "the audit row of this action is") {
        sealForPeople(store, keyPath: path(store: store.path), rows: rows)
    }

    /// The key file of a store of either kind: `--audit-key`, else the store's default (for PostgreSQL, the one the
    /// partitioned engines and `replay` use).
    func path(for store: AnyStoreOptions) throws -> String {
        if let file { return file }
        return store.isPostgres ? path(for: try store.target()) : AuditKey.defaultPath(store: store.db)
    }

    /// The key file of a PostgreSQL store: `--audit-key`, else the one the partitioned engines and `replay` use.
    func path(for target: PostgresTarget) -> String { file ?? PostgresStore.defaultAuditKeyPath(target) }

    func sealForPeople(_ store: any EngineStore, keyPath path: String, rows: String = "the audit row of this action is") {
        do { _ = try AuditTrail.seal(store, keyFile: path, create: false) } catch {
            Terminal.error("warning: \(error): \(rows) written without a MAC (not sealed); "
                           + "`cityeye audit verify` will report it. Ask an operator who can read the key to check it.")
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The tamper-evident audit trail (an HMAC chain per community).",
        subcommands: [VerifyAudit.self])
}

struct VerifyAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every audit chain of a store with the key: exit 0 if intact, 1 with the first break.",
        discussion: """
        Finds the first audit row that was changed, deleted, inserted out of order or written without a MAC. \
        --heads FILE: a log of the live engine (its `audit heads <chain>=<row>:<hex mac>` lines; the last of each \
        chain counts): rows cut off the end of a chain are found too. Rows written before the chain began (before \
        this version) are counted, not checked.
        """)

    @OptionGroup var store: AnyStoreOptions
    @OptionGroup var key: AuditKeyOption
    @Option(help: ArgumentHelp("A log with the engine's `audit heads` lines.", valueName: "FILE")) var heads: String?

    func run() throws {
        let db = try store.openReader()
        defer { db.close() }
        let keyPath = try key.path(for: store)
        let auditKey = try failing { try AuditKey.load(path: keyPath, create: false) }
        var logged: [String: AuditHead] = [:]
        if let heads {
            guard let text = try? String(contentsOfFile: heads, encoding: .utf8) else {
                throw Failure("cannot read --heads \(heads): no such file or not readable")
            }
            logged = try failing { try AuditHeadsLine.parse(text, file: heads) }
        }
        let report = try failing { try AuditTrail.verify(store: db, key: auditKey, loggedHeads: logged) }
        guard report.intact else { throw Failure(Terminal.safe(report.summary)) }
        print(report.summary)
    }
}
