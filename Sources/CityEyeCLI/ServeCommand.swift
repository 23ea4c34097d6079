import ArgumentParser
import Foundation
import Model
import Store
import Engine
import Web
import Telemetry
import Lease
import PostgresStore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The web app for grid workers (phones) and supervisors (the cockpit), on a store.",
        discussion: """
        Runs beside `cityeye run` on the store it writes (two processes), or on a replayed store. People sign in \
        with the password an operator set (`cityeye people set-password`); their actions go through the same \
        checks and audit as `cityeye ack/resolve/close/reopen`, recorded with channel `web`. Sessions are kept \
        in memory: a restart signs everyone out.

        The config file (its own, not the live engine's: a replayed store has no broker):
          listen: 127.0.0.1:8080      required; host:port (port 0: any free port)
          store: cityeye.db           required; an SQLite file relative to the config file's folder, or
                                      postgres://user@host:port/database (the password from --db-password-file
                                      or PGPASSWORD, never in the URL)
          language: zh-CN             optional; default page language, zh-CN or en
          session_idle_minutes: 720   optional; a session ends after this long without a request
          secure_cookies: false       optional; true when served over HTTPS (a TLS proxy in front)
        Any other key is an error. The server prints `serving http://HOST:PORT` once it listens.

        GET /metrics (Prometheus text) and GET /healthz (200 while the store can be read, else 503; on PostgreSQL, \
        while a query answers) answer without \
        a login: bind `listen` to loopback or let the reverse proxy guard them (docs/web.md).
        """)

    @Option(help: ArgumentHelp("The web app's YAML config file.", valueName: "FILE")) var config: String
    @OptionGroup var key: AuditKeyOption
    @Option(name: .customLong("db-password-file"),
            help: ArgumentHelp("The PostgreSQL password for a `store: postgres://…` (else PGPASSWORD; never on the command line).", valueName: "FILE"))
    var dbPasswordFile: String?

    func run() async throws {
        let c = try failing { try ServeConfig.load(path: config) }
        let (store, name) = try open(c)
        let recorded = try failing { try Deployment.registry(in: store) }
        guard let registry = recorded else {
            throw Failure("the store \(name) has no registry recorded: run `cityeye replay` or `cityeye run` into it first")
        }
        let app = WebApp(config: c, store: store, registry: registry, metrics: .process).application { port in
            print("serving http://\(c.host):\(port)")
            fflush(nil)
        }
        try await app.runService()
        store.close()
    }

    /// The config's store, its audit rows sealed with the key, and its name for messages (a URL without password).
    /// PostgreSQL: unscoped (people's web actions commit under the store's write lock, beside partitioned engines),
    /// and connected again after the server was lost, so `/healthz` recovers with it.
    func open(_ c: ServeConfig) throws -> (any WebStore, String) {
        let rows = "the audit rows of people's actions on the web are"
        guard c.storeIsPostgres else {
            if dbPasswordFile != nil {
                throw Failure("--db-password-file: \(config)'s store \(c.store) is an SQLite file, which has no password")
            }
            let store = try failing { try Store(path: c.store, create: false) }
            key.sealForPeople(store, rows: rows)
            return (store, c.store)
        }
        let target = try failing { try PostgresTarget.parse(c.store, passwordFile: dbPasswordFile) }
        let store = try failing { try PostgresStore(target: target, create: false, reconnects: true) }
        key.sealForPeople(store, keyPath: key.path(for: target), rows: rows)
        return (store, target.description)
    }
}
