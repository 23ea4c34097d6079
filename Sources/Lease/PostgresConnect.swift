import Foundation
import Logging
import NIOSSL
import PostgresNIO

extension PostgresTarget {
    /// Opens one connection. Connection trouble (refused, timed out, dropped) is `.unreachable`, a refusal by the
    /// server (authentication, no such database) is `.database`; neither message holds the password.
    public func connect(id: Int = 0, connectTimeout: Duration = .seconds(3), logger: Logger) async throws(LeaseError) -> PostgresConnection {
        let config = try configuration(connectTimeout: connectTimeout)
        do {
            return try await PostgresConnection.connect(configuration: config, id: id, logger: logger)
        } catch {
            throw PostgresTrouble.classify(error, server: description, connecting: true)
        }
    }

    /// The connection's settings (TLS when the URL requires it, the password, `application_name` cityeye), for a
    /// client that connects on an event loop of its own.
    public func configuration(connectTimeout: Duration = .seconds(3)) throws(LeaseError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        if requireTLS {
            do { tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration())) } catch {
                throw .unreachable(server: description, why: "cannot set up TLS: \(error)")
            }
        } else {
            tls = .disable
        }
        var config = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                      database: database, tls: tls)
        config.options.connectTimeout = .milliseconds(connectTimeout.components.seconds * 1000
                                                      + connectTimeout.components.attoseconds / 1_000_000_000_000_000)
        config.options.additionalStartupParameters = [("application_name", "cityeye")]
        return config
    }
}

/// Sorting postgres-nio's errors into "try again on a new connection" and "the server said no".
public enum PostgresTrouble {
    /// `.unreachable` for trouble with the connection itself, `.database` otherwise. While connecting, only an
    /// answer from the server (bad password, no such database) is `.database`.
    public static func classify(_ error: any Error, server: String, connecting: Bool = false) -> LeaseError {
        if let e = error as? LeaseError { return e }
        guard let p = error as? PSQLError else {
            return connecting ? .unreachable(server: server, why: "\(error)") : .database(server: server, why: "\(error)")
        }
        if p.code == .server, let state = p.serverInfo?[.sqlState] {
            let message = p.serverInfo?[.message] ?? "error"
            // 57P0x: the server is shutting down or restarting; 08xxx: connection exceptions.
            if state.hasPrefix("57P") || state.hasPrefix("08") { return .unreachable(server: server, why: "\(message) (SQLSTATE \(state))") }
            return .database(server: server, why: "\(message) (SQLSTATE \(state))")
        }
        switch p.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            return .unreachable(server: server, why: p.underlying.map { "\($0)" } ?? "\(p.code)")
        default:
            return connecting ? .unreachable(server: server, why: "\(p.code)") : .database(server: server, why: "\(p.code)")
        }
    }

    /// The SQLSTATE of a server error, if that is what `error` is.
    public static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}
