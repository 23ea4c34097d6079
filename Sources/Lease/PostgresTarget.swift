import Foundation

/// A PostgreSQL server to connect to, from `postgres://user@host:port/db`. The password never sits in the URL (it
/// would show in `ps`, shell history and logs): it comes from a file or from `PGPASSWORD`, and `description`, like
/// every error here, leaves it out.
public struct PostgresTarget: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    /// `sslmode=require` in the URL: TLS or no connection. The default, `disable`, suits loopback and private links.
    public var requireTLS: Bool
    /// Never printed.
    public var password: String?

    /// `postgres://user@host:port/db`, without the password.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)\(requireTLS ? "?sslmode=require" : "")"
    }

    /// Reads `url`; the password from `passwordFile` when given (trailing newlines dropped), else from `PGPASSWORD`
    /// in `environment`, else none (trust or peer authentication).
    public static func parse(_ url: String, passwordFile: String? = nil,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(LeaseError) -> PostgresTarget {
        func bad(_ why: String) -> LeaseError { .badURL(why) }
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else {
            throw bad("`\(Self.redacted(url))` is not a URL: write postgres://user@host:port/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw bad("`\(Self.redacted(url))`: the scheme must be postgres://, not \(scheme)://")
        }
        if c.password != nil {
            throw bad("`\(Self.redacted(url))` carries a password: it would show in process lists and logs; put it in a password file or in PGPASSWORD")
        }
        guard let user = c.user, !user.isEmpty else { throw bad("`\(url)` names no user: write postgres://user@host:port/database") }
        guard var host = c.host, !host.isEmpty else { throw bad("`\(url)` names no host: write postgres://user@host:port/database") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = c.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("`\(url)`: port \(port) is not 1–65535") }
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !path.contains("/") else { throw bad("`\(url)`: the path is one database name, got `\(path)`") }
        var tls = false
        for item in c.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "require"?): tls = true
            case ("sslmode", "disable"?): tls = false
            case ("sslmode", let v): throw bad("`\(url)`: sslmode must be disable or require, got \(v ?? "nothing")")
            default: throw bad("`\(url)`: unknown parameter `\(item.name)` (only sslmode=disable|require)")
            }
        }
        var password: String?
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw .passwordFile(path: passwordFile, why: "cannot read it")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw .passwordFile(path: passwordFile, why: "it is not UTF-8 text") }
            password = text.trimmingCharacters(in: .newlines)
            guard password?.isEmpty == false else { throw .passwordFile(path: passwordFile, why: "it is empty") }
        } else if let p = environment["PGPASSWORD"], !p.isEmpty {
            password = p
        }
        return PostgresTarget(user: user, host: host, port: port, database: path.isEmpty ? user : path, requireTLS: tls,
                              password: password)
    }

    /// The URL with any password replaced, for an error message.
    public static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? "(a URL with a password)"
    }
}
