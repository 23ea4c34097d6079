import ArgumentParser
import Foundation
import Model
import Store
import Engine
import Web
import Telemetry

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
          store: cityeye.db           required; relative to the config file's folder
          language: zh-CN             optional; default page language, zh-CN or en
          session_idle_minutes: 720   optional; a session ends after this long without a request
          secure_cookies: false       optional; true when served over HTTPS (a TLS proxy in front)
        Any other key is an error. The server prints `serving http://HOST:PORT` once it listens.

        GET /metrics (Prometheus text) and GET /healthz (200 while the store can be read, else 503) answer without \
        a login: bind `listen` to loopback or let the reverse proxy guard them (docs/web.md).
        """)

    @Option(help: ArgumentHelp("The web app's YAML config file.", valueName: "FILE")) var config: String
    @OptionGroup var key: AuditKeyOption

    func run() async throws {
        let c = try failing { try ServeConfig.load(path: config) }
        let store = try failing { try Store(path: c.store, create: false) }
        key.sealForPeople(store, rows: "the audit rows of people's actions on the web are")
        let recorded = try failing { try Deployment.registry(in: store) }
        guard let registry = recorded else {
            throw Failure("the store \(c.store) has no registry recorded: run `cityeye replay` or `cityeye run` into it first")
        }
        let app = WebApp(config: c, store: store, registry: registry, metrics: .process).application { port in
            print("serving http://\(c.host):\(port)")
            fflush(nil)
        }
        try await app.runService()
    }
}
