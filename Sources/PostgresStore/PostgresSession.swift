import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Lease
import Store

/// One PostgreSQL connection used synchronously: the engine's store API is synchronous, so this is where it meets
/// postgres-nio, once. The connection runs on a private one-thread event loop; each call sends its statement and
/// blocks the calling thread on the answer (`EventLoopFuture.wait()`), which must therefore never be an event loop
/// thread. Not thread-safe by itself (`PostgresStore` holds a lock around it).
final class PostgresSession {
    let target: PostgresTarget
    private let group: MultiThreadedEventLoopGroup
    private var connection: PostgresConnection?
    /// postgres-nio logs per query at debug and trace; the store reports its failures as errors instead.
    private let logger = Logger(label: "cityeye.pgstore", factory: { _ in SwiftLogNoOpLogHandler() })

    /// How long one statement may go without an answer before the connection is closed under it (a server that
    /// froze, a network that silently drops): the caller gets an error instead of waiting for ever.
    let queryTimeout: Duration

    let connectTimeout: Duration

    init(target: PostgresTarget, connectTimeout: Duration, queryTimeout: Duration) throws(StoreError) {
        self.target = target
        self.queryTimeout = queryTimeout
        self.connectTimeout = connectTimeout
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            connection = try connect()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    private func connect() throws(StoreError) -> PostgresConnection {
        do {
            let config = try target.configuration(connectTimeout: connectTimeout)
            return try Self.wait(PostgresConnection.connect(on: group.next(), configuration: config, id: 1, logger: logger),
                                 upTo: connectTimeout + .seconds(5))
        } catch {
            throw Self.storeError(error, server: target.description, connecting: true)
        }
    }

    /// Connects again when the connection was lost (the server restarted, a statement went unanswered); a store that
    /// was closed stays closed. Only for a session that keeps nothing on the connection between statements (no
    /// session lock, no open transaction): a new connection has none of that.
    func reconnectIfLost() throws(StoreError) {
        guard !closed, connection?.isClosed ?? true else { return }
        unread.removeAll()
        connection = try connect()
    }

    deinit { close() }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        if let c = connection {
            connection = nil
            _ = try? Self.wait(c.close(), upTo: .seconds(5))
        }
        try? group.syncShutdownGracefully()
    }

    /// Statements sent by `send` whose answers were not read yet, in the order sent.
    private var unread: [EventLoopFuture<PostgresQueryResult>] = []

    /// Sends one statement whose rows nobody needs (a write inside a transaction) without waiting for its answer, so
    /// the caller goes on while the server runs it. The connection answers statements in the order they were sent:
    /// the next `query` reads the answers of everything sent before it first, and throws the first failure among
    /// them (a transaction whose statement failed is then rolled back, never committed).
    func send(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws(StoreError) {
        guard let c = connection else {
            throw StoreError("PostgreSQL at \(target): the store is closed", code: .other)
        }
        unread.append(c.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    /// Runs one statement and returns its rows, after the answers of every statement sent before it.
    @discardableResult
    func query(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws(StoreError) -> [PostgresRandomAccessRow] {
        guard let c = connection else {
            unread.removeAll()
            throw StoreError("PostgreSQL at \(target): the store is closed", code: .other)
        }
        let answered = c.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        let earlier = unread
        unread.removeAll()
        do {
            var firstFailure: (any Error)?
            for f in earlier { if let e = try failure(of: f), firstFailure == nil { firstFailure = e } }
            if let firstFailure {
                // This statement then fails too (the transaction is aborted): the reason is the earlier one.
                _ = try failure(of: answered)
                throw firstFailure
            }
            let result = try Self.wait(answered, upTo: queryTimeout)
            return result.rows.map { $0.makeRandomAccess() }
        } catch is Unanswered {
            // The connection is given up, not waited on: a server that ended the session under a statement (an
            // idle-in-transaction timeout, a restart) can leave postgres-nio's answer pending for ever.
            connection = nil
            let closing: EventLoopFuture<Void> = c.close()
            closing.whenComplete { _ in withExtendedLifetime(c) {} }
            throw StoreError("PostgreSQL at \(target) did not answer within \(queryTimeout); the connection was given up "
                             + "(check that the server runs and is reachable)", code: .unreachable)
        } catch {
            throw Self.storeError(error, server: target.description)
        }
    }

    private struct Unanswered: Error {}

    /// Waits for a statement's answer: its failure, or nil; `Unanswered` (the server silent) is thrown.
    private func failure(of f: EventLoopFuture<PostgresQueryResult>) throws -> (any Error)? {
        do { _ = try Self.wait(f, upTo: queryTimeout); return nil } catch is Unanswered { throw Unanswered() } catch { return error }
    }

    /// Waits on the calling thread, which must not be an event loop's (it would wait on itself), at most `limit`.
    private static func wait<T>(_ future: EventLoopFuture<T>, upTo limit: Duration) throws -> T {
        precondition(MultiThreadedEventLoopGroup.currentEventLoop == nil,
                     "the PostgreSQL store is synchronous: call it from a thread of your own, never from an event loop")
        let answered = DispatchSemaphore(value: 0)
        let box = Answer<T>()
        future.whenComplete { box.set($0); answered.signal() }
        let ns = Int(limit.components.seconds) * 1_000_000_000 + Int(limit.components.attoseconds / 1_000_000_000)
        guard answered.wait(timeout: .now() + .nanoseconds(ns)) == .success, let result = box.get() else { throw Unanswered() }
        return try result.get()
    }

    /// A postgres-nio error as the store's typed error: the server and what it said, never the password.
    static func storeError(_ error: any Error, server: String, connecting: Bool = false) -> StoreError {
        if let e = error as? StoreError { return e }
        let trouble = PostgresTrouble.classify(error, server: server, connecting: connecting)
        switch trouble {
        case .unreachable(let server, let why):
            return StoreError("PostgreSQL at \(server) cannot be reached: \(why). Check that it runs and listens there, and the URL",
                              code: .unreachable)
        case .database(let server, let why):
            let state = PostgresTrouble.sqlState(error) ?? ""
            // 3D000: no such database; 28xxx: authentication refused; 53100: disk full.
            let code: StoreError.Code = state == "3D000" ? .missing : state == "53100" ? .diskFull : .other
            let hint = state == "3D000" ? ": create it (createdb) or name another in the URL"
                : state.hasPrefix("28") ? ": check the user and the password file (or PGPASSWORD)" : ""
            return StoreError("PostgreSQL at \(server): \(why)\(hint)", code: code)
        default:
            return StoreError("\(trouble)", code: .other)
        }
    }
}

/// A future's result, handed from the event loop to the waiting thread.
private final class Answer<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ r: Result<T, any Error>) { lock.withLock { value = r } }
    func get() -> Result<T, any Error>? { lock.withLock { value } }
}

/// Reading columns by position from a row, with the store's types.
extension PostgresRandomAccessRow {
    func int(_ i: Int) throws -> Int64 { try self[i].decode(Int64.self) }
    func optionalInt(_ i: Int) throws -> Int64? { try self[i].decode(Int64?.self) }
    func text(_ i: Int) throws -> String { try self[i].decode(String.self) }
    func optionalText(_ i: Int) throws -> String? { try self[i].decode(String?.self) }
    func bool(_ i: Int) throws -> Bool { try self[i].decode(Bool.self) }
    /// bytea; NULL reads as no bytes (an unsealed audit row's MAC).
    func bytes(_ i: Int) throws -> [UInt8] {
        guard let b = try self[i].decode(ByteBuffer?.self) else { return [] }
        return Array(b.readableBytesView)
    }
}

/// PostgreSQL `text` cannot hold U+0000 (SQLite's can): it is written as U+2400 (SYMBOL FOR NULL), so that a log line
/// with `\u0000` in a field is stored instead of failing the batch. Payloads are bytea and keep every byte.
@inline(__always)
func pgText(_ s: String) -> String {
    s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{2400}") : s
}

func bytea(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
