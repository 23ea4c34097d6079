import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL 15 for one test class: `initdb` in a temporary folder, `pg_ctl` on a free loopback port,
/// stopped (and its folder removed) by `stop()`. As root the server runs as the `postgres` user, which owns the
/// folder (PostgreSQL refuses to run as root). Never the system cluster on 5432.
public final class PostgresServer: @unchecked Sendable {
    /// Where Debian's postgresql-15 puts the server binaries.
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let port: Int
    public let folder: String
    /// The superuser `initdb` creates (trust authentication unless a password was given).
    public let user = "cityeye"
    public let database = "postgres"
    /// The superuser's password when the server was started with one (scram-sha-256 for TCP then).
    public let password: String?
    public let fsync: Bool

    /// `postgres://cityeye@127.0.0.1:PORT/postgres` (no password in it: that comes from a file or `PGPASSWORD`).
    public var url: String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }

    /// Starts a server, or skips the test when the binaries are missing; with `CI` set, missing binaries fail it
    /// instead (scripts/lib/deps.sh installs them, so CI must never silently skip).
    /// `fsync: false` (the default) makes commits cheap for tests; measurements turn it on.
    public static func start(password: String? = nil, fsync: Bool = false, binaries: String = PostgresServer.binaries,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresServer {
        guard FileManager.default.isExecutableFile(atPath: binaries + "/initdb") else {
            let why = "PostgreSQL 15 not found (\(binaries)/initdb): install it with `apt-get install -y postgresql-15`, or run scripts/test.sh, which does"
            if environment["CI"] != nil { throw PostgresServerError(why + " (CI is set: not skipping)") }
            throw XCTSkip(why)
        }
        return try PostgresServer(password: password, fsync: fsync)
    }

    private init(password: String?, fsync: Bool) throws {
        self.password = password
        self.fsync = fsync
        port = try Self.freePort()
        folder = NSTemporaryDirectory() + "cityeye-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if geteuid() == 0 { try Self.run("/bin/chown", ["postgres:postgres", folder]) }
        var initdb = ["-D", folder + "/data", "-U", user, "-E", "UTF8", "--no-sync"]
        if let password {
            try password.write(toFile: folder + "/pw", atomically: true, encoding: .utf8)
            if geteuid() == 0 { try Self.run("/bin/chown", ["postgres:postgres", folder + "/pw"]) }
            initdb += ["-A", "scram-sha-256", "--auth-local=trust", "--pwfile", folder + "/pw"]
        } else {
            initdb += ["-A", "trust"]
        }
        try Self.run(Self.binaries + "/initdb", initdb, asServerUser: true)
        try start()
    }

    /// `pg_ctl start` and wait until it accepts connections.
    public func start() throws {
        try Self.run(Self.binaries + "/pg_ctl", [
            "-D", folder + "/data", "-l", folder + "/log", "-w", "-t", "60",
            "-o", "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=\(fsync ? "on" : "off")",
            "start",
        ], asServerUser: true)
    }

    /// `pg_ctl stop -m fast` (open sessions are cut, as in a restart of a real server); the data stays.
    public func stopServer() throws {
        try Self.run(Self.binaries + "/pg_ctl", ["-D", folder + "/data", "-m", "fast", "-w", "-t", "60", "stop"], asServerUser: true)
    }

    /// Stops and starts it again on the same port with the same data.
    public func restart() throws {
        try stopServer()
        try start()
    }

    /// Stops the server if it runs and removes its folder.
    public func stop() {
        if FileManager.default.fileExists(atPath: folder + "/data/postmaster.pid") { try? stopServer() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The server's log so far (for a failing test's message).
    public var log: String { (try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? "" }

    /// `psql -c SQL` as the superuser over the socket; its output, or an error with psql's message.
    /// `in`: another database of the server than `database`.
    @discardableResult
    public func psql(_ sql: String, in db: String? = nil) throws -> String {
        try Self.run(Self.binaries + "/psql", ["-h", folder, "-p", "\(port)", "-U", user, "-d", db ?? database, "-Atq", "-v",
                                               "ON_ERROR_STOP=1", "-c", sql], asServerUser: true)
    }

    /// A free loopback port with nothing listening on it (for "the server is down").
    public static func unusedPort() throws -> Int { try freePort() }

    deinit { stop() }

    /// Runs a program to its end (as `postgres` via runuser when we are root); its output, or an error with it.
    /// posix_spawn and waitpid rather than `Process`: Foundation's `Process` learns of the end through a descriptor
    /// the child inherits, and the server `pg_ctl start` leaves running keeps it open, so it would wait forever.
    @discardableResult
    static func run(_ program: String, _ arguments: [String], asServerUser: Bool = false) throws -> String {
        let argv = asServerUser && geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] + arguments
                                                  : [program] + arguments
        let outPath = NSTemporaryDirectory() + "cityeye-pg-out-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard rc == 0 else { throw PostgresServerError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw PostgresServerError("\((program as NSString).lastPathComponent) failed (status \(status)): \(text.suffix(600))")
        }
        return text
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresServerError("cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw PostgresServerError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A test class with one private PostgreSQL for all its tests (`pg`): started before its first test, stopped after
/// its last; each test skips (or, with CI set, fails) when PostgreSQL 15 is missing.
open class PostgresTestCase: XCTestCase {
    nonisolated(unsafe) private static var servers: [ObjectIdentifier: PostgresServer] = [:]
    private static let serversLock = NSLock()

    public var pg: PostgresServer { Self.serversLock.withLock { Self.servers[ObjectIdentifier(type(of: self))]! } }

    open override func setUpWithError() throws {
        try super.setUpWithError()
        let key = ObjectIdentifier(type(of: self))
        if Self.serversLock.withLock({ Self.servers[key] }) == nil {
            let server = try PostgresServer.start()
            Self.serversLock.withLock { Self.servers[key] = server }
        }
    }

    open override class func tearDown() {
        let server = serversLock.withLock { servers.removeValue(forKey: ObjectIdentifier(self)) }
        server?.stop()
        super.tearDown()
    }
}

/// The test server could not be set up; the message says what failed and shows the tool's output.
public struct PostgresServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
