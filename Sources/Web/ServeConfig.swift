import Foundation
import YAMLSupport
import Registry
import Model

/// `cityeye serve --config FILE`: the web app's own file, not the live engine's (docs/contract.md §9): the web app also runs
/// on a replayed store where no engine, broker or rule folder exists. Relative paths are relative to the file's
/// folder; an unknown key, a missing required key or a bad value is an error naming the key, and nothing starts.
///
/// ```yaml
/// listen: 127.0.0.1:8080      # required: host:port to listen on (port 0: any free port, printed at start)
/// store: cityeye.db           # required: the store that `cityeye run` or `cityeye replay` writes: an SQLite file, or
///                             #   postgres://user@host:port/database (password: --db-password-file or PGPASSWORD)
/// language: zh-CN             # optional: the pages' default language, zh-CN (default) or en
/// session_idle_minutes: 720   # optional: a session ends after this long without a request (default 720)
/// secure_cookies: false       # optional: true when served over HTTPS (a TLS proxy in front): cookies get Secure
/// ```
public struct ServeConfig: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var store: String
    public var language: Language = .zh
    public var sessionIdleMinutes = 720
    public var secureCookies = false

    public init(host: String, port: Int, store: String) { self.host = host; self.port = port; self.store = store }

    /// `store` names a PostgreSQL store (postgres://…), not an SQLite file.
    public var storeIsPostgres: Bool { PostgresStoreName.names(store) }

    public static let keys: Set<String> = ["listen", "store", "language", "session_idle_minutes", "secure_cookies"]

    public static func load(path: String) throws(YAMLFileError) -> ServeConfig {
        try parse(YAMLValue.load(path: path, what: "serve config"), folder: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    static func parse(_ doc: YAMLValue, folder: String) throws(YAMLFileError) -> ServeConfig {
        let top = try doc.fields("the serve config", allowed: keys)
        func need(_ key: String) throws(YAMLFileError) -> YAMLValue {
            guard let v = top[key] else { throw doc.error("missing required key `\(key)`") }
            return v
        }
        let listenV = try need("listen")
        let listen = try listenV.string("listen")
        guard let address = ListenAddress(listen) else {
            throw listenV.error("listen must be host:port with a port 0–65535, e.g. 127.0.0.1:8080; got \(listen)")
        }
        let storeV = try need("store")
        var store = try storeV.string("store")
        // A PostgreSQL store is checked when `cityeye serve` connects (its password comes from a file or PGPASSWORD).
        if !PostgresStoreName.names(store) {
            if !store.hasPrefix("/") { store = (folder as NSString).appendingPathComponent(store) }
            guard FileManager.default.fileExists(atPath: store) else {
                throw storeV.error("store: no store at \(store): run `cityeye replay` or `cityeye run` first")
            }
        }
        var c = ServeConfig(host: address.host, port: address.port, store: store)
        if let v = top["language"] {
            let s = try v.string("language")
            guard let l = Language(tag: s) else { throw v.error("language must be zh-CN or en, got \(s)") }
            c.language = l
        }
        if let v = top["session_idle_minutes"] {
            c.sessionIdleMinutes = try v.int("session_idle_minutes")
            guard c.sessionIdleMinutes > 0 else { throw v.error("session_idle_minutes must be at least 1") }
        }
        if let v = top["secure_cookies"] { c.secureCookies = try v.bool("secure_cookies") }
        return c
    }
}
